package sqldb

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/gatehouse/gatehouse/internal/store"
)

// Shared exposes shared to the package's tests.
func (s *DB) Shared(run func(ctx context.Context, tx *sql.Tx) error) error {
	return s.shared(context.Background(), run)
}

// ExplainAudit returns the plan the engine would use for AuditRecords(f)
// (Explain).
func (s *DB) ExplainAudit(ctx context.Context, f store.AuditFilter) (string, error) {
	q, args, _, err := s.auditQuery(ctx, f)
	if err != nil {
		return "", err
	}
	return s.Explain(ctx, q, args...)
}

// Explain returns the plan the engine would use for q (with ? or the
// dialect's placeholders) on args: on PostgreSQL the generic plan, the one
// a prepared statement may settle on whatever its arguments.
func (s *DB) Explain(ctx context.Context, q string, args ...any) (string, error) {
	q = s.Rebind(q)
	conn, err := s.sql.Conn(ctx)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	var rows *sql.Rows
	if s.dialect.Name == "sqlite" {
		rows, err = conn.QueryContext(ctx, "EXPLAIN QUERY PLAN "+q, args...)
	} else {
		lits := make([]string, len(args))
		for i, a := range args {
			switch v := a.(type) {
			case string:
				lits[i] = "'" + strings.ReplaceAll(v, "'", "''") + "'"
			default:
				lits[i] = fmt.Sprint(v)
			}
		}
		for _, st := range []string{"SET plan_cache_mode = force_generic_plan", "PREPARE gh_explain AS " + q} {
			if _, err := conn.ExecContext(ctx, st); err != nil {
				return "", err
			}
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), "DEALLOCATE gh_explain; RESET plan_cache_mode")
		exec := "EXPLAIN EXECUTE gh_explain"
		if len(lits) > 0 {
			exec += "(" + strings.Join(lits, ", ") + ")"
		}
		rows, err = conn.QueryContext(ctx, exec)
	}
	if err != nil {
		return "", err
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var plan strings.Builder
	for rows.Next() {
		vals := make([]any, len(cols))
		for i := range vals {
			vals[i] = new(any)
		}
		if err := rows.Scan(vals...); err != nil {
			return "", err
		}
		fmt.Fprintln(&plan, *vals[len(vals)-1].(*any))
	}
	return plan.String(), rows.Err()
}

// UsersLinkedQuery is the statement UsersLinkedTo runs, as the engine
// takes it.
func (s *DB) UsersLinkedQuery() string {
	return s.tenant.Users().(collection[store.User]).listQuery(s.tenant.usersLinked())
}

// NamesEqualFoldQuery is the statement NamesEqualFold runs for kind, as
// the engine takes it.
func (s *DB) NamesEqualFoldQuery(kind string) string {
	return s.tenant.namesEqualFoldQuery(nameTables[kind])
}
