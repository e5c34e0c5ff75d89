// Package postgres is the store for deployments with several replicas:
// everything that must hold across replicas is decided inside PostgreSQL.
package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib" // also registers the "pgx" database/sql driver

	"github.com/gatehouse/gatehouse/internal/store/sqldb"
)

//go:embed migrations/*.sql
var migrations embed.FS

// HasStore reports whether the database at dsn (its search_path) holds a
// Gatehouse store, without creating one: for commands that only read one,
// which Open would otherwise create in any database they are pointed at.
func HasStore(ctx context.Context, dsn string) (bool, error) {
	if err := checkUserinfo(dsn); err != nil {
		return false, err
	}
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
	if err := checkUserinfo(dsn); err != nil {
		return nil, err
	}
	where := Redact(dsn)
	db := sql.OpenDB(connector{dsn: dsn})
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
		JSONCast:  "::jsonb",
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

// IdleInTxTimeout is how long the server lets a session of the store sit
// idle inside a transaction before it ends the session, and so rolls the
// transaction back and releases its locks (PostgreSQL's
// idle_in_transaction_session_timeout), when neither the database URL nor
// the server's own settings set a limit.
//
// A replica that freezes inside a transaction (a stopped or hung
// process, a host gone from the network: its connection stays open as
// far as the server knows) otherwise keeps its row locks for as long as
// it is frozen — with the server's defaults (no idle limit, TCP
// keepalives after two hours) hours. Holding the audit chain's head, it
// stalls every other replica's audit records, and every tool call waits
// for its record. With the limit the others wait at most this long: less
// than the audit trail's commit timeout (30 s), so their batches commit
// instead of failing. The store's own transactions never wait between
// two statements for anything but this process's work, which takes far
// less.
const IdleInTxTimeout = 20 * time.Second

// idleInTx is the setting IdleInTxTimeout sets.
const idleInTx = "idle_in_transaction_session_timeout"

// connector opens the store's connections: pgx's, each with the idle
// limit of IdleInTxTimeout unless one is set already. It reads dsn for
// each connection, as the "pgx" driver of sql.Open does (a password file
// changed meanwhile is read again).
type connector struct {
	dsn string
}

func (c connector) Connect(ctx context.Context) (driver.Conn, error) {
	cfg, err := pgx.ParseConfig(c.dsn)
	if err != nil {
		return nil, err
	}
	var opts []stdlib.OptionOpenDB
	if !namesSetting(cfg.RuntimeParams, idleInTx) {
		opts = append(opts, stdlib.OptionAfterConnect(limitIdleInTx))
	}
	return stdlib.GetConnector(*cfg, opts...).Connect(ctx)
}

func (connector) Driver() driver.Driver { return stdlib.GetDefaultDriver() }

// namesSetting reports whether the connection's startup parameters set
// the server setting name: as a parameter of its own (a query parameter
// of the URL), or in options (-c name=value, in the URL or PGOPTIONS).
// The operator's choice then stands, 0 (no limit) included.
func namesSetting(params map[string]string, name string) bool {
	for k, v := range params {
		if strings.EqualFold(k, name) || strings.EqualFold(k, "options") && strings.Contains(strings.ToLower(v), name) {
			return true
		}
	}
	return false
}

// limitIdleInTx sets IdleInTxTimeout on a new session whose idle limit is
// off (0). A limit the server gives the session otherwise (its
// configuration, ALTER ROLE or ALTER DATABASE) stands. It is a SET, not
// a startup parameter: connection poolers such as PgBouncer refuse
// startup parameters they do not know.
func limitIdleInTx(ctx context.Context, c *pgx.Conn) error {
	q := fmt.Sprintf("SELECT set_config('%s', '%dms', false) WHERE current_setting('%[1]s') = '0'",
		idleInTx, IdleInTxTimeout.Milliseconds())
	if _, err := c.Exec(ctx, q); err != nil {
		return fmt.Errorf("set %s: %w", idleInTx, err)
	}
	return nil
}

// Redact returns the URL with its passwords replaced, for messages: the
// user's, and the password and sslpassword parameters of its query
// (which the driver takes as well). A URL without // after its scheme
// has no user part to hide a password in: all of "user:password@host" is
// its opaque rest, so it is not shown either.
func Redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" || u.Opaque != "" {
		return "(unparsable URL)"
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			if secretParam(k) {
				q.Set(k, "xxxxx")
			}
		}
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// HasPassword reports whether the URL carries a password the driver
// would take: the user's, or a password or sslpassword parameter.
func HasPassword(dsn string) bool {
	u, err := url.Parse(dsn)
	if err != nil {
		return false
	}
	if _, ok := u.User.Password(); ok {
		return true
	}
	for k := range u.Query() {
		if secretParam(k) {
			return true
		}
	}
	return false
}

// checkUserinfo refuses a URL whose user information holds an unencoded
// @: the driver splits it at the first @ and Go's URL parser at the last,
// so no message could be sure to hide all of the password.
func checkUserinfo(dsn string) error {
	_, rest, ok := strings.Cut(dsn, "://")
	if !ok {
		return nil
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	if strings.Count(rest, "@") > 1 {
		return errors.New("the database URL's user information holds an @ that is not percent-encoded: write it as %40")
	}
	return nil
}

// rawSecrets returns the passwords of a URL as they are written in it
// (percent-encoded, + for a space): a message may quote the URL as given.
func rawSecrets(dsn string) []string {
	var out []string
	_, rest, _ := strings.Cut(dsn, "://")
	auth, query := rest, ""
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		auth = rest[:i]
	}
	if i := strings.IndexByte(rest, '?'); i >= 0 {
		query, _, _ = strings.Cut(rest[i+1:], "#")
	}
	if at := strings.LastIndexByte(auth, '@'); at >= 0 {
		if _, pw, ok := strings.Cut(auth[:at], ":"); ok {
			out = append(out, pw)
		}
	}
	for _, kv := range strings.Split(query, "&") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			if dk, err := url.QueryUnescape(k); err == nil && secretParam(dk) {
				out = append(out, v)
			}
		}
	}
	return out
}

// secretParam reports whether a connection parameter holds a password.
func secretParam(k string) bool {
	k = strings.ToLower(k)
	return k == "password" || k == "sslpassword"
}

// keywordSecret finds password and sslpassword in a keyword/value
// connection string (host=… password=…), quoted or not.
var keywordSecret = regexp.MustCompile(`(?i)\b(?:ssl)?password\s*=\s*('(?:\\.|[^'\\])*'|\S+)`)

// scrub removes every trace of the connection string's passwords from a
// driver error: the URL's user password and password parameters, or a
// keyword/value string's.
func scrub(err error, dsn string) error {
	var secrets []string
	if u, perr := url.Parse(dsn); perr == nil && u.Scheme != "" {
		if u.User != nil {
			if p, ok := u.User.Password(); ok {
				secrets = append(secrets, p)
			}
		}
		for k, vs := range u.Query() {
			if secretParam(k) {
				secrets = append(secrets, vs...)
			}
		}
		secrets = append(secrets, rawSecrets(dsn)...)
	} else {
		for _, m := range keywordSecret.FindAllStringSubmatch(dsn, -1) {
			secrets = append(secrets, m[1], strings.Trim(m[1], "'"))
		}
	}
	secrets = slices.DeleteFunc(secrets, func(s string) bool { return s == "" })
	if len(secrets) == 0 {
		return err
	}
	// The longest first, so that a secret holding another is replaced
	// whole.
	slices.SortFunc(secrets, func(a, b string) int { return len(b) - len(a) })
	return redactedError{err: err, secrets: secrets}
}

type redactedError struct {
	err     error
	secrets []string
}

func (e redactedError) Error() string {
	s := e.err.Error()
	for _, secret := range e.secrets {
		s = strings.ReplaceAll(s, secret, "xxxxx")
	}
	return s
}
func (e redactedError) Unwrap() error { return e.err }

func isUnique(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}
