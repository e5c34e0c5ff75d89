package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// Dialect is what differs between SQL engines.
type Dialect struct {
	// Name is "sqlite" or "postgres".
	Name string
	// Numbered is true when placeholders are $1, $2… instead of ?.
	Numbered bool
	// ForUpdate is appended to a SELECT that reads a row it will change
	// ("" where the engine locks the whole database for a write).
	ForUpdate string
	// JSONCast is appended to a column of JSON text for the -> and ->>
	// operators to read it ("::jsonb" on PostgreSQL; "" where they read
	// text as it is, SQLite).
	JSONCast string
	// LockMigrations, when set, runs first in the migration transaction so
	// that replicas starting at once migrate one after the other.
	LockMigrations string
	// Migrations holds NNNN_name.sql files, applied in order, once each.
	Migrations fs.FS
	// IsUnique reports whether err is a unique-constraint violation.
	IsUnique func(err error) bool
	// Maintain, when set, runs in the background from New until Close
	// (which cancels ctx and waits for it): engine housekeeping such as
	// SQLite's WAL checkpoints. lockWrites is DB.LockWrites.
	Maintain func(ctx context.Context, db *sql.DB, lockWrites func() (unlock func()))
	// OneWriter is true for engines that take one writer at a time
	// (SQLite): writers of this process then queue on a mutex, in order,
	// instead of colliding and sleeping in the engine's busy handler.
	OneWriter bool
}

// DB is a store on a SQL database. It satisfies store.Store.
type DB struct {
	sql     *sql.DB
	dialect Dialect
	now     func() time.Time
	rebinds sync.Map // query text → rebound text
	// writeTurn holds one token while a writer of this process has the
	// turn, when the dialect has OneWriter: a channel rather than a mutex
	// so that a writer whose request ended stops waiting (waitWrites).
	writeTurn chan struct{}
	stmts     stmtCache // prepared statements of the hot queries
	// sharedQ holds writes waiting for a shared commit (OneWriter
	// engines): single-use markers, counters.
	sharedQ sharedQueue
	// stopMaintain ends Dialect.Maintain; maintained is closed when it has.
	stopMaintain context.CancelFunc
	maintained   chan struct{}

	tenant
}

var _ store.Store = (*DB)(nil)

// Options tune a DB. The zero value is the default.
type Options struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// New wraps an open database, applies pending migrations and returns the
// store. It takes ownership of db.
func New(ctx context.Context, db *sql.DB, d Dialect, opts *Options) (*DB, error) {
	s := &DB{sql: db, dialect: d, now: time.Now, writeTurn: make(chan struct{}, 1)}
	if opts != nil && opts.Now != nil {
		s.now = opts.Now
	}
	s.tenant = tenant{db: s, q: db}
	if err := s.migrate(ctx); err != nil {
		return nil, err
	}
	if err := s.foldNames(ctx); err != nil {
		return nil, err
	}
	if d.Maintain != nil {
		mctx, cancel := context.WithCancel(context.Background())
		s.stopMaintain, s.maintained = cancel, make(chan struct{})
		go func() {
			defer close(s.maintained)
			d.Maintain(mctx, db, s.LockWrites)
		}()
	}
	return s, nil
}

// SQL returns the underlying database, for packages of this module that
// keep tables of their own (audit, identity).
func (s *DB) SQL() *sql.DB { return s.sql }

// Dialect names the engine.
func (s *DB) Dialect() string { return s.dialect.Name }

// Now is the store's clock.
func (s *DB) Now() time.Time { return s.now() }

// Ping reports whether the database answers.
func (s *DB) Ping(ctx context.Context) error {
	var one int
	if err := s.sql.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("database unreachable: %w", err)
	}
	return nil
}

// Close releases the database.
func (s *DB) Close() error {
	if s.stopMaintain != nil {
		s.stopMaintain()
		<-s.maintained
	}
	s.closeStmts()
	return s.sql.Close()
}

// Rebind turns ? placeholders into the dialect's own. Queries of this
// module never hold a literal ?.
func (s *DB) Rebind(q string) string {
	if !s.dialect.Numbered {
		return q
	}
	if v, ok := s.rebinds.Load(q); ok {
		return v.(string)
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	out := b.String()
	s.rebinds.Store(q, out)
	return out
}

// IsUnique reports whether err is a unique-constraint violation.
func (s *DB) IsUnique(err error) bool { return err != nil && s.dialect.IsUnique(err) }

// InTx runs fn in one transaction.
func (s *DB) InTx(ctx context.Context, fn func(tx store.Tenant) error) error {
	return s.Tx(ctx, func(tx *sql.Tx) error {
		return fn(tenant{db: s, q: tx, inTx: true})
	})
}

// LockWrites serialises this process's writers on engines with one writer
// at a time; it returns the unlock function (a no-op elsewhere). It waits
// as long as it takes: for writers with no request behind them (shared
// commits, the engine's maintenance). A request's writes wait through
// waitWrites, which gives up when the request ends.
func (s *DB) LockWrites() func() {
	unlock, _ := s.waitWrites(context.Background())
	return unlock
}

// waitWrites is LockWrites for a write on ctx's behalf: when ctx ends
// first, it returns ctx's error and nothing to unlock. A writer stuck
// behind a slow commit (a stalled disk, a long transaction) then answers
// its caller when the caller's deadline passes, instead of whenever the
// turn comes.
func (s *DB) waitWrites(ctx context.Context) (unlock func(), err error) {
	if !s.dialect.OneWriter {
		return func() {}, nil
	}
	select {
	case s.writeTurn <- struct{}{}:
		return s.endWrite, nil
	default:
	}
	select {
	case s.writeTurn <- struct{}{}:
		return s.endWrite, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("wait for the database's write turn: %w", context.Cause(ctx))
	}
}

func (s *DB) endWrite() { <-s.writeTurn }

// Tx runs fn in one database transaction, committing when fn returns nil.
func (s *DB) Tx(ctx context.Context, fn func(tx *sql.Tx) error) (err error) {
	unlock, err := s.waitWrites(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	tx, err := s.sql.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			_ = tx.Rollback()
			panic(p)
		}
	}()
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// migrate applies every migration not applied yet, each in a transaction
// holding the dialect's migration lock. The table that records them is
// made under that lock as well: PostgreSQL's CREATE TABLE IF NOT EXISTS
// is not safe between sessions running it at once (one fails on a
// duplicate key of its catalog), which replicas starting together on a
// new database do.
//
// A store that a newer release migrated (a version past the last one
// here) is refused: this code does not know its tables, and writing them
// as if it did could damage what the newer release keeps there.
func (s *DB) migrate(ctx context.Context) error {
	names, err := fs.Glob(s.dialect.Migrations, "*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	versions := make([]int, len(names))
	for i, name := range names {
		if versions[i], err = strconv.Atoi(strings.SplitN(name, "_", 2)[0]); err != nil {
			return fmt.Errorf("migration %s: name must start with a number", name)
		}
	}
	known := 0
	if len(versions) > 0 {
		known = slices.Max(versions)
	}
	var newest int64
	err = s.Tx(ctx, func(tx *sql.Tx) error {
		if err := s.lockMigrations(ctx, tx); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version BIGINT PRIMARY KEY,
		name TEXT NOT NULL,
		applied_at BIGINT NOT NULL)`)
		if err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&newest)
	})
	if err != nil {
		return fmt.Errorf("prepare migrations: %w", err)
	}
	if newest > int64(known) {
		return fmt.Errorf("the store's schema is version %d, newer than this Gatehouse knows (%d): a newer release migrated it; run that release or a later one", newest, known)
	}
	for i, name := range names {
		v := versions[i]
		body, err := fs.ReadFile(s.dialect.Migrations, name)
		if err != nil {
			return err
		}
		err = s.Tx(ctx, func(tx *sql.Tx) error {
			if err := s.lockMigrations(ctx, tx); err != nil {
				return err
			}
			var n int
			if err := tx.QueryRowContext(ctx, s.Rebind("SELECT COUNT(*) FROM schema_migrations WHERE version = ?"), v).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			for _, stmt := range splitStatements(string(body)) {
				if _, err := tx.ExecContext(ctx, stmt); err != nil {
					return fmt.Errorf("%w\n%s", err, stmt)
				}
			}
			_, err := tx.ExecContext(ctx, s.Rebind("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)"),
				v, name, s.now().UnixMicro())
			return err
		})
		if err != nil {
			return fmt.Errorf("migration %s: %w", name, err)
		}
	}
	return nil
}

// lockMigrations takes the dialect's migration lock in tx, until tx ends.
func (s *DB) lockMigrations(ctx context.Context, tx *sql.Tx) error {
	if s.dialect.LockMigrations == "" {
		return nil
	}
	if _, err := tx.ExecContext(ctx, s.dialect.LockMigrations); err != nil {
		return fmt.Errorf("lock migrations: %w", err)
	}
	return nil
}

// splitStatements splits a migration on lines that end with ";". Migrations
// hold no procedural code, so this is enough.
func splitStatements(body string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(body, "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "--") || t == "" {
			continue
		}
		cur.WriteString(line)
		cur.WriteString("\n")
		if strings.HasSuffix(t, ";") {
			out = append(out, strings.TrimSpace(cur.String()))
			cur.Reset()
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}

// querier is what *sql.DB and *sql.Tx share.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// errNotFound wraps store.ErrNotFound with what was missing.
func errNotFound(what, key string) error {
	return fmt.Errorf("%s %q: %w", what, key, store.ErrNotFound)
}

func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }
