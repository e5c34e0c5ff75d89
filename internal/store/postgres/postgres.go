// Package postgres is the store for deployments with several replicas:
// everything that must hold across replicas is decided inside PostgreSQL.
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver

	"github.com/gatehouse/gatehouse/internal/store/sqldb"
)

//go:embed migrations/*.sql
var migrations embed.FS

// HasStore reports whether the database at dsn (its search_path) holds a
// Gatehouse store, without creating one: for commands that only read one,
// which Open would otherwise create in any database they are pointed at.
func HasStore(ctx context.Context, dsn string) (bool, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return false, fmt.Errorf("database %s: %w", Redact(dsn), scrub(err, dsn))
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var has bool
	if err := db.QueryRowContext(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&has); err != nil {
		return false, fmt.Errorf("cannot reach database %s: %w", Redact(dsn), scrub(err, dsn))
	}
	return has, nil
}

// Open connects to the database at dsn (a postgres:// URL), checks that it
// answers and applies pending migrations. Errors never show the password.
func Open(ctx context.Context, dsn string, opts *sqldb.Options) (*sqldb.DB, error) {
	where := Redact(dsn)
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("database %s: %w", where, scrub(err, dsn))
	}
	db.SetMaxOpenConns(32)
	db.SetMaxIdleConns(32)
	db.SetConnMaxIdleTime(5 * time.Minute)
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("cannot reach database %s: %w", where, scrub(err, dsn))
	}
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	s, err := sqldb.New(ctx, db, sqldb.Dialect{
		Name:      "postgres",
		Numbered:  true,
		ForUpdate: " FOR UPDATE",
		// One lock for every replica's migrations: the number is arbitrary
		// but fixed ("gatehouse" in ASCII, truncated).
		LockMigrations: "SELECT pg_advisory_xact_lock(6761746568)",
		Migrations:     sub,
		IsUnique:       isUnique,
	}, opts)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("database %s: %w", where, scrub(err, dsn))
	}
	return s, nil
}

// Redact returns the URL with its password replaced, for messages.
func Redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// scrub removes every trace of the password from a driver error.
func scrub(err error, dsn string) error {
	u, perr := url.Parse(dsn)
	if perr != nil || u.User == nil {
		return err
	}
	if p, ok := u.User.Password(); ok && p != "" {
		return redactedError{err: err, secret: p}
	}
	return err
}

type redactedError struct {
	err    error
	secret string
}

func (e redactedError) Error() string {
	return strings.ReplaceAll(e.err.Error(), e.secret, "xxxxx")
}
func (e redactedError) Unwrap() error { return e.err }

func isUnique(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}
