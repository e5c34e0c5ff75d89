package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// unusedClientsQuery is the query of the clients PruneClients removes: it
// reads a client's document only when the partial index of migration 0006
// (whose condition its first line repeats) and the identity tables'
// client_id indexes have left it a candidate. A document's -> of a field
// left out is NULL, of a field given null is JSON null: both mean "not
// set" for tools, whose null is "no cap" and an empty list "no tool".
func (t tenant) unusedClientsQuery(lock string) string {
	doc := "doc" + t.db.dialect.JSONCast
	return `SELECT name FROM clients
		WHERE (` + doc + ` ->> 'source') IN ('` + store.SourceRegistered + `', '` + store.SourceMetadata + `') AND created_at < ?
		AND NOT EXISTS (SELECT 1 FROM consents WHERE consents.client_id = clients.name)
		AND NOT EXISTS (SELECT 1 FROM refresh_tokens WHERE refresh_tokens.client_id = clients.name)
		AND NOT EXISTS (SELECT 1 FROM auth_codes WHERE auth_codes.client_id = clients.name)
		AND COALESCE(` + doc + ` -> 'disabled', 'false') = 'false'
		AND COALESCE(` + doc + ` -> 'tools', 'null') = 'null'
		ORDER BY created_at, name LIMIT ?` + lock
}

func (t tenant) unusedClients(ctx context.Context, q querier, createdBefore time.Time, limit int, lock string) ([]string, error) {
	rows, err := q.QueryContext(ctx, t.db.Rebind(t.unusedClientsQuery(lock)), createdBefore.UnixMicro(), limit)
	if err != nil {
		return nil, fmt.Errorf("unused clients: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, fmt.Errorf("unused clients: %w", err)
		}
		ids = append(ids, id)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("unused clients: %w", err)
	}
	return ids, nil
}

// UnusedClients implements store.Tenant.UnusedClients.
func (t tenant) UnusedClients(ctx context.Context, createdBefore time.Time, limit int) ([]string, error) {
	if limit <= 0 {
		return nil, nil
	}
	return t.unusedClients(ctx, t.q, createdBefore, limit, "")
}

// PruneClients implements store.Tenant.PruneClients, in the caller's
// transaction or in one of its own.
func (t tenant) PruneClients(ctx context.Context, createdBefore time.Time, limit int, until time.Time) ([]string, error) {
	if limit <= 0 {
		return nil, nil
	}
	// Where the engine locks rows (PostgreSQL), the tenant's lock is taken
	// first, as every write of the tenant takes it (write): a transaction
	// holding it and then changing a candidate (an administrator removing
	// it) would otherwise deadlock with this one holding the candidate and
	// waiting for the revision. The candidates are then locked as they
	// are chosen, and those another transaction holds are skipped.
	lock := ""
	if fu := t.db.dialect.ForUpdate; fu != "" {
		lock = fu + " SKIP LOCKED"
	}
	var removed []string
	run := func(q querier) error {
		removed = nil
		if lock != "" {
			if err := t.lock(ctx, q); err != nil {
				return fmt.Errorf("prune clients: %w", err)
			}
		}
		ids, err := t.unusedClients(ctx, q, createdBefore, limit, lock)
		if err != nil {
			return err
		}
		for _, id := range ids {
			res, err := q.ExecContext(ctx, t.db.Rebind("DELETE FROM clients WHERE name = ?"), id)
			if err != nil {
				return fmt.Errorf("prune client %q: %w", id, err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				continue
			}
			// As an administrator's removal: a client of the ID added
			// again (a metadata client is, on its next use) inherits
			// nothing, and no token issued before now stands for it.
			if _, err := t.endClient(ctx, q, id, until); err != nil {
				return err
			}
			removed = append(removed, id)
		}
		if len(removed) == 0 {
			return nil
		}
		if _, err := q.ExecContext(ctx, "UPDATE tenant_revision SET n = n + 1 WHERE id = 1"); err != nil {
			return fmt.Errorf("prune clients: %w", err)
		}
		return nil
	}
	var err error
	if t.inTx {
		err = run(t.q)
	} else {
		err = t.db.Tx(ctx, func(tx *sql.Tx) error { return run(tx) })
	}
	if err != nil {
		return nil, err
	}
	return removed, nil
}
