package sqldb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/gatehouse/gatehouse/internal/casefold"
	"github.com/gatehouse/gatehouse/internal/store"
)

// tenant implements store.Tenant on a querier: the database itself, or a
// transaction inside InTx.
type tenant struct {
	db   *DB
	q    querier
	inTx bool
}

func (t tenant) Users() store.Collection[store.User] {
	return collection[store.User]{t: t, folded: true, table: "users", what: "user",
		key:   func(v store.User) string { return v.Username },
		stamp: func(v *store.User, c, u time.Time) { v.CreatedAt, v.UpdatedAt = c, u }}
}

// usersLinked is UsersLinkedTo's condition; its expression is the index
// users_idp_sub's (migration 0007), word for word.
func (t tenant) usersLinked() string {
	return "(doc" + t.db.dialect.JSONCast + " -> 'attributes' ->> 'idp_sub') = ?"
}

// UsersLinkedTo implements store.Tenant.UsersLinkedTo.
func (t tenant) UsersLinkedTo(ctx context.Context, sub string) ([]store.User, error) {
	return t.Users().(collection[store.User]).list(ctx, t.usersLinked(), sub)
}

// nameTables are the tables of the kinds of names NamesEqualFold looks
// up, the tables that keep a folded name (name_key, migration 0009).
var nameTables = map[string]string{"user": "users", "client": "clients", "tool": "tools", "role": "roles", "upstream": "upstreams"}

// namesEqualFoldQuery is NamesEqualFold's statement for table: the
// records whose folded name is the one asked, through the index
// TABLE_name_key, and those whose name a release before the keys wrote
// without one (NULL, which the index holds too), for Go to fold.
func (t tenant) namesEqualFoldQuery(table string) string {
	return t.db.Rebind("SELECT name, name_key FROM " + table + " WHERE name_key = ? OR name_key IS NULL ORDER BY name")
}

// NamesEqualFold implements store.Tenant.NamesEqualFold.
//
// Names are folded in Go only (casefold.Key, when a record is made, and
// here), never by SQL, whose lower() and upper() fold otherwise beyond
// ASCII on each engine: the database compares the keys as bytes.
func (t tenant) NamesEqualFold(ctx context.Context, kind, name string) ([]string, error) {
	table, ok := nameTables[kind]
	if !ok {
		return nil, fmt.Errorf("unknown kind of name %s", kind)
	}
	key := casefold.Key(name)
	rows, err := t.q.QueryContext(ctx, t.namesEqualFoldQuery(table), key)
	if err != nil {
		return nil, fmt.Errorf("look up %s names: %w", kind, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var (
			n string
			k sql.NullString
		)
		if err := rows.Scan(&n, &k); err != nil {
			return nil, fmt.Errorf("look up %s names: %w", kind, err)
		}
		if k.Valid || casefold.Key(n) == key {
			out = append(out, n)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("look up %s names: %w", kind, err)
	}
	return out, nil
}

// foldNames gives every record of the tables of nameTables without a
// folded name its key: those migration 0009 could not fold in SQL (names
// beyond ASCII) and those a release before it wrote since. It runs as the
// store opens; other replicas doing it at once write the same keys.
func (s *DB) foldNames(ctx context.Context) error {
	for _, table := range nameTables {
		rows, err := s.sql.QueryContext(ctx, "SELECT name FROM "+table+" WHERE name_key IS NULL")
		if err != nil {
			return fmt.Errorf("fold the names of %s: %w", table, err)
		}
		var names []string
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				rows.Close()
				return fmt.Errorf("fold the names of %s: %w", table, err)
			}
			names = append(names, n)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return fmt.Errorf("fold the names of %s: %w", table, err)
		}
		if len(names) == 0 {
			continue
		}
		// In the tenant's lock (first, as every write of the tenant takes
		// it), and in one order: replicas opening at once, and writers of
		// the records, wait for each other instead of deadlocking.
		slices.Sort(names)
		err = s.Tx(ctx, func(tx *sql.Tx) error {
			if err := s.tenant.lock(ctx, tx); err != nil {
				return err
			}
			for _, n := range names {
				if _, err := tx.ExecContext(ctx, s.Rebind("UPDATE "+table+" SET name_key = ? WHERE name = ? AND name_key IS NULL"),
					casefold.Key(n), n); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("fold the names of %s: %w", table, err)
		}
	}
	return nil
}

func (t tenant) Roles() store.Collection[store.Role] {
	return collection[store.Role]{t: t, folded: true, table: "roles", what: "role",
		key:   func(v store.Role) string { return v.Name },
		stamp: func(v *store.Role, c, u time.Time) { v.CreatedAt, v.UpdatedAt = c, u }}
}

func (t tenant) Clients() store.Collection[store.Client] {
	return collection[store.Client]{t: t, folded: true, table: "clients", what: "client",
		key:   func(v store.Client) string { return v.ClientID },
		stamp: func(v *store.Client, c, u time.Time) { v.CreatedAt, v.UpdatedAt = c, u }}
}

func (t tenant) Tools() store.Collection[store.Tool] {
	return collection[store.Tool]{t: t, folded: true, table: "tools", what: "tool",
		key:   func(v store.Tool) string { return v.Name },
		stamp: func(v *store.Tool, c, u time.Time) { v.CreatedAt, v.UpdatedAt = c, u }}
}

func (t tenant) Upstreams() store.Collection[store.Upstream] {
	return collection[store.Upstream]{t: t, folded: true, table: "upstreams", what: "upstream",
		key:   func(v store.Upstream) string { return v.Name },
		stamp: func(v *store.Upstream, c, u time.Time) { v.CreatedAt, v.UpdatedAt = c, u }}
}

func (t tenant) Keys() store.Collection[store.SigningKey] {
	return collection[store.SigningKey]{t: t, table: "signing_keys", what: "signing key",
		key:   func(v store.SigningKey) string { return v.ID },
		stamp: func(v *store.SigningKey, c, u time.Time) { v.CreatedAt, v.UpdatedAt = c, u }}
}

func (t tenant) Setting(ctx context.Context, name string) (string, error) {
	var v string
	err := t.db.queryRowCached(ctx, t.q, "SELECT value FROM settings WHERE name = ?", name).Scan(&v)
	if isNoRows(err) {
		return "", errNotFound("setting", name)
	}
	if err != nil {
		return "", fmt.Errorf("read setting %q: %w", name, err)
	}
	return v, nil
}

func (t tenant) SetSetting(ctx context.Context, name, value string) error {
	return t.write(ctx, func(q querier) error {
		_, err := q.ExecContext(ctx, t.db.Rebind(`INSERT INTO settings (name, value) VALUES (?, ?)
			ON CONFLICT (name) DO UPDATE SET value = excluded.value`), name, value)
		return err
	})
}

func (t tenant) Revision(ctx context.Context) (int64, error) {
	var n int64
	if err := t.q.QueryRowContext(ctx, "SELECT n FROM tenant_revision WHERE id = 1").Scan(&n); err != nil {
		return 0, fmt.Errorf("read revision: %w", err)
	}
	return n, nil
}

// Lock takes the tenant revision's row for update: every write of the
// tenant bumps that row, and another Lock reads it so, so they all wait
// for the transaction holding it. On SQLite (no FOR UPDATE) the write
// transaction already excludes every other writer from its BEGIN.
func (t tenant) Lock(ctx context.Context) error {
	if !t.inTx {
		return errors.New("lock the tenant: not in a transaction")
	}
	return t.lock(ctx, t.q)
}

func (t tenant) lock(ctx context.Context, q querier) error {
	var n int64
	if err := q.QueryRowContext(ctx, "SELECT n FROM tenant_revision WHERE id = 1"+t.db.dialect.ForUpdate).Scan(&n); err != nil {
		return fmt.Errorf("lock the tenant: %w", err)
	}
	return nil
}

// write runs fn in the current transaction, or in a new one, and bumps the
// tenant revision with it.
//
// Where the engine locks rows (PostgreSQL), the revision's row is locked
// before fn locks the record's: in the order of the transactions that
// take the tenant's lock first (Lock) and then change records. A write
// that locked its record first and then waited for the revision could
// hold the very record such a transaction waits for: a deadlock, which
// PostgreSQL ends by failing one of the two.
func (t tenant) write(ctx context.Context, fn func(q querier) error) error {
	run := func(q querier) error {
		if t.db.dialect.ForUpdate != "" {
			if err := t.lock(ctx, q); err != nil {
				return err
			}
		}
		if err := fn(q); err != nil {
			return err
		}
		_, err := q.ExecContext(ctx, "UPDATE tenant_revision SET n = n + 1 WHERE id = 1")
		return err
	}
	if t.inTx {
		return run(t.q)
	}
	return t.db.Tx(ctx, func(tx *sql.Tx) error { return run(tx) })
}

// collection is one table of JSON documents keyed by name.
type collection[T any] struct {
	t     tenant
	table string
	what  string
	key   func(T) string
	stamp func(v *T, created, updated time.Time)
	// folded: the table keeps each name's folded form (name_key,
	// casefold.Key) for NamesEqualFold.
	folded bool
}

func (c collection[T]) decode(doc string, created, updated int64) (T, error) {
	var v T
	if err := json.Unmarshal([]byte(doc), &v); err != nil {
		return v, fmt.Errorf("decode %s: %w", c.what, err)
	}
	c.stamp(&v, time.UnixMicro(created).UTC(), time.UnixMicro(updated).UTC())
	return v, nil
}

func (c collection[T]) Get(ctx context.Context, key string) (T, error) {
	return c.get(ctx, c.t.q, key, "")
}

func (c collection[T]) get(ctx context.Context, q querier, key, suffix string) (T, error) {
	var (
		doc              string
		created, updated int64
		zero             T
	)
	// One text per table and suffix: a bounded set for the statement cache.
	err := c.t.db.queryRowCached(ctx, q, "SELECT doc, created_at, updated_at FROM "+c.table+" WHERE name = ?"+suffix, key).
		Scan(&doc, &created, &updated)
	if isNoRows(err) {
		return zero, errNotFound(c.what, key)
	}
	if err != nil {
		return zero, fmt.Errorf("read %s %q: %w", c.what, key, err)
	}
	return c.decode(doc, created, updated)
}

func (c collection[T]) List(ctx context.Context) ([]T, error) {
	return c.list(ctx, "")
}

// listQuery is the statement list runs for the condition where ("" for
// every record).
func (c collection[T]) listQuery(where string) string {
	q := "SELECT doc, created_at, updated_at FROM " + c.table
	if where != "" {
		q += " WHERE " + where
	}
	return c.t.db.Rebind(q + " ORDER BY name")
}

// list returns the records that meet the condition where, with args for
// its placeholders ("": every record), ordered by key.
func (c collection[T]) list(ctx context.Context, where string, args ...any) ([]T, error) {
	rows, err := c.t.q.QueryContext(ctx, c.listQuery(where), args...)
	if err != nil {
		return nil, fmt.Errorf("list %ss: %w", c.what, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		var (
			doc              string
			created, updated int64
		)
		if err := rows.Scan(&doc, &created, &updated); err != nil {
			return nil, fmt.Errorf("list %ss: %w", c.what, err)
		}
		v, err := c.decode(doc, created, updated)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list %ss: %w", c.what, err)
	}
	return out, nil
}

func (c collection[T]) Create(ctx context.Context, v T) error {
	key := c.key(v)
	if key == "" {
		return fmt.Errorf("create %s: empty name", c.what)
	}
	doc, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", c.what, err)
	}
	now := c.t.db.now().UnixMicro()
	return c.t.write(ctx, func(q querier) error {
		// ON CONFLICT DO NOTHING rather than a failing INSERT: on PostgreSQL
		// a failed statement would poison the caller's transaction.
		cols, vals, args := "name", "?", []any{key}
		if c.folded {
			cols, vals, args = "name, name_key", "?, ?", append(args, casefold.Key(key))
		}
		res, err := q.ExecContext(ctx, c.t.db.Rebind("INSERT INTO "+c.table+
			" ("+cols+", doc, created_at, updated_at) VALUES ("+vals+", ?, ?, ?) ON CONFLICT (name) DO NOTHING"),
			append(args, string(doc), now, now)...)
		if err != nil {
			return fmt.Errorf("create %s %q: %w", c.what, key, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%s %q: %w", c.what, key, store.ErrConflict)
		}
		return nil
	})
}

func (c collection[T]) Update(ctx context.Context, key string, fn func(old T) (T, error)) error {
	return c.t.write(ctx, func(q querier) error {
		old, err := c.get(ctx, q, key, c.t.db.dialect.ForUpdate)
		if err != nil {
			return err
		}
		v, err := fn(old)
		if err != nil {
			return err
		}
		if k := c.key(v); k != key {
			return fmt.Errorf("update %s %q: the name cannot change (to %q)", c.what, key, k)
		}
		doc, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("encode %s: %w", c.what, err)
		}
		_, err = q.ExecContext(ctx, c.t.db.Rebind("UPDATE "+c.table+" SET doc = ?, updated_at = ? WHERE name = ?"),
			string(doc), c.t.db.now().UnixMicro(), key)
		if err != nil {
			return fmt.Errorf("update %s %q: %w", c.what, key, err)
		}
		return nil
	})
}

func (c collection[T]) Delete(ctx context.Context, key string) error {
	return c.t.write(ctx, func(q querier) error {
		res, err := q.ExecContext(ctx, c.t.db.Rebind("DELETE FROM "+c.table+" WHERE name = ?"), key)
		if err != nil {
			return fmt.Errorf("delete %s %q: %w", c.what, key, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errNotFound(c.what, key)
		}
		return nil
	})
}
