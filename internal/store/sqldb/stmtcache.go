package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"time"
)

// errClosed is a preparation asked of a closed database.
var errClosed = errors.New("sqldb: the database is closed")

// Design note: the prepared-statement cache.
//
// modernc's SQLite driver parses a query's text on every call that is not
// made through a prepared statement, and parsing was a fifth of an
// introspection and a good part of every audit commit. So the hot queries
// (audit appends, Consume, the revocation lookup, the identity provider's
// records, the tenant's documents by name) run through statements prepared
// once per database and kept here, by their rebound text. database/sql
// prepares a statement on each connection it meets lazily and forgets it
// with the connection; inside a transaction, Tx.StmtContext reuses the one
// already prepared on the transaction's connection (or prepares it there
// once, for the next transactions too). On PostgreSQL (pgx) the statement
// is a named server-side one per connection, which pgx would otherwise
// have cached by itself: the cache saves it a lookup and costs nothing.
//
// Only fixed query texts go through the cache (the set is bounded by the
// code); queries built from filters (audit queries, listings with a LIMIT)
// are run as they are.

// stmtCache holds prepared statements by query text.
type stmtCache struct {
	m       sync.Map       // query text → *sql.Stmt
	filling sync.Map       // query text → true while prepared aside (one at a time)
	fills   sync.WaitGroup // the preparations aside, which Close waits for
	life    sync.Mutex     // guards closed and fills.Add against Close
	closed  bool           // no more preparations
}

// prepared returns the cached statement for q (already rebound), preparing
// it on first use.
func (s *DB) prepared(ctx context.Context, q string) (*sql.Stmt, error) {
	if v, ok := s.stmts.m.Load(q); ok {
		return v.(*sql.Stmt), nil
	}
	s.stmts.life.Lock()
	closed := s.stmts.closed
	s.stmts.life.Unlock()
	if closed {
		return nil, errClosed
	}
	// Prepared on the database, not in the caller's transaction: a
	// failure does not abort the transaction on PostgreSQL, and the
	// statement outlives it.
	st, err := s.sql.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	s.stmts.m.Store(q, st)
	return st, nil
}

// prepareAsideTimeout bounds a preparation made aside: nobody waits for
// it but Close.
const prepareAsideTimeout = 30 * time.Second

// stmtFor returns the cached statement for q bound to on: the database, or
// a transaction. A statement not cached yet is not prepared for the
// caller: stmtFor returns nil, the caller runs q as it is, and the cache
// is filled aside for the next time. Preparing waits as a statement does,
// for a connection and for the locks of the tables it names: inside a
// transaction it could wait for a connection that this transaction's
// siblings hold (a pool with a connection limit), and on the database it
// would keep the caller past its deadline behind a table another session
// holds (a long ALTER TABLE, LOCK TABLE), where q run as it is ends with
// the caller's context.
func (s *DB) stmtFor(ctx context.Context, on querier, q string) (*sql.Stmt, error) {
	if v, ok := s.stmts.m.Load(q); ok {
		if tx, inTx := on.(*sql.Tx); inTx {
			// Closed with the transaction; the cached one stays.
			return tx.StmtContext(ctx, v.(*sql.Stmt)), nil
		}
		return v.(*sql.Stmt), nil
	}
	if _, filling := s.stmts.filling.LoadOrStore(q, true); !filling {
		s.stmts.life.Lock()
		if s.stmts.closed {
			s.stmts.life.Unlock()
			return nil, nil
		}
		s.stmts.fills.Add(1)
		s.stmts.life.Unlock()
		go func() {
			defer s.stmts.fills.Done()
			ctx, cancel := context.WithTimeout(context.Background(), prepareAsideTimeout)
			defer cancel()
			_, _ = s.prepared(ctx, q)
			s.stmts.filling.Delete(q)
		}()
	}
	return nil, nil
}

// stmtCtx is the context a statement runs in on on: ctx itself, or on a
// one-writer engine (SQLite) inside a transaction, ctx without its end.
//
// There such a transaction holds the database's write lock from its BEGIN
// (immediate), which waits under the caller's context; its statements then
// run in this process on pages no one else may write, and wait for no one,
// so a cancellation has nothing to cut short. The driver watches the
// context of each statement that has an end with a goroutine of its own:
// on an audit commit that was most of the goroutines a tool call started
// (13 of 22 at one client, by a runtime trace), each one a hand-off of a
// core for nothing. The transaction's own context still ends it: database/
// sql rolls it back once the statement running then has returned (and
// watches it, with a goroutine of its own, for each row query).
func (s *DB) stmtCtx(ctx context.Context, on querier) context.Context {
	if _, inTx := on.(*sql.Tx); inTx && s.dialect.OneWriter {
		return context.WithoutCancel(ctx)
	}
	return ctx
}

// execCached runs q (rebound here) through the statement cache on on.
func (s *DB) execCached(ctx context.Context, on querier, q string, args ...any) (sql.Result, error) {
	ctx = s.stmtCtx(ctx, on)
	q = s.Rebind(q)
	st, err := s.stmtFor(ctx, on, q)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return on.ExecContext(ctx, q, args...)
	}
	return st.ExecContext(ctx, args...)
}

// queryRowCached runs q (rebound here) through the statement cache on on.
// A preparation error is returned by the row's Scan.
func (s *DB) queryRowCached(ctx context.Context, on querier, q string, args ...any) rowScanner {
	ctx = s.stmtCtx(ctx, on)
	q = s.Rebind(q)
	st, err := s.stmtFor(ctx, on, q)
	if err != nil {
		return errRow{err}
	}
	if st == nil {
		return on.QueryRowContext(ctx, q, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// rowScanner is what *sql.Row offers.
type rowScanner interface{ Scan(dest ...any) error }

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// closeStmts stops preparations, waits for those under way aside (each
// could otherwise open a connection, and on SQLite files, while or after
// the database closes) and closes the cached statements.
func (s *DB) closeStmts() {
	s.stmts.life.Lock()
	s.stmts.closed = true
	s.stmts.life.Unlock()
	s.stmts.fills.Wait()
	s.stmts.m.Range(func(k, v any) bool {
		v.(*sql.Stmt).Close()
		s.stmts.m.Delete(k)
		return true
	})
}
