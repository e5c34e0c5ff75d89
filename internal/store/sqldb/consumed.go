package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"
)

const (
	markerInsert  = "INSERT INTO consumed (kind, id, expires_at) VALUES (?, ?, ?)"
	consumeInsert = markerInsert + " ON CONFLICT (kind, id) DO NOTHING"
)

// Consume marks (kind, id) used; only the first caller on any replica gets
// true. The marker is committed before Consume returns.
//
// On engines with one writer at a time (SQLite) concurrent calls share a
// commit: each queues its marker, and whichever caller gets the write lock
// inserts every queued marker in one transaction and hands each caller its
// own answer (the statement's row count: 1 for the first use, 0 for a
// repeat, also of a marker earlier in the same transaction). One commit
// then serves as many calls as queued behind the previous write, which
// is most of what a marker cost. Elsewhere each call commits on its own:
// PostgreSQL runs them side by side.
func (s *DB) Consume(ctx context.Context, kind, id string, expires time.Time) (bool, error) {
	if s.dialect.OneWriter {
		return s.consumeShared(ctx, kind, id, expires)
	}
	res, err := s.execCached(ctx, s.sql, consumeInsert, kind, id, expires.UnixMicro())
	if err != nil {
		return false, fmt.Errorf("consume %s: %w", kind, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("consume %s: %w", kind, err)
	}
	return n == 1, nil
}

func (s *DB) consumeShared(ctx context.Context, kind, id string, expires time.Time) (bool, error) {
	var first bool
	err := s.shared(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := s.execCached(ctx, tx, consumeInsert, kind, id, expires.UnixMicro())
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		first = n == 1
		return err
	})
	if err != nil {
		return false, fmt.Errorf("consume %s: %w", kind, err)
	}
	return first, nil
}

// sharedOp is one write queued for a shared commit, and its outcome.
type sharedOp struct {
	run  func(ctx context.Context, tx *sql.Tx) error
	err  error
	done chan struct{} // closed once run has run and err is set
}

// sharedQueue holds the writes waiting for a shared commit.
type sharedQueue struct {
	mu  sync.Mutex
	ops []*sharedOp
}

// withdraw takes op out of the queue, reporting whether it was still
// there (not taken into a transaction).
func (q *sharedQueue) withdraw(op *sharedOp) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, o := range q.ops {
		if o == op {
			q.ops = append(q.ops[:i:i], q.ops[i+1:]...)
			return true
		}
	}
	return false
}

// sharedCommitTimeout bounds one shared transaction: it outlives the
// caller that runs it, since it carries other callers' writes.
const sharedCommitTimeout = 30 * time.Second

// shared runs run in a transaction shared with the other writes queued
// meanwhile (OneWriter engines): run queues, and whichever caller gets the
// write lock runs every queued write in one transaction, in order, and
// commits once. run reads what it needs of its statements' answers into
// its own variables; a failing write fails the whole transaction, and
// every write in it gets the error. The write is committed when shared
// returns nil. When ctx ends while the write still waits in the queue, it
// is taken out and shared returns ctx's error: nothing of it is committed
// later. Once a lock holder has taken it into its transaction, shared
// waits for that commit's outcome (bounded by sharedCommitTimeout).
func (s *DB) shared(ctx context.Context, run func(ctx context.Context, tx *sql.Tx) error) error {
	op := &sharedOp{run: run, done: make(chan struct{})}
	s.sharedQ.mu.Lock()
	s.sharedQ.ops = append(s.sharedQ.ops, op)
	s.sharedQ.mu.Unlock()

	unlock, err := s.waitWrites(ctx)
	if err != nil {
		if s.sharedQ.withdraw(op) {
			return err
		}
		<-op.done // in a lock holder's transaction already
		return op.err
	}
	select {
	case <-op.done: // an earlier lock holder committed it
		unlock()
		return op.err
	default:
	}
	s.sharedQ.mu.Lock()
	batch := s.sharedQ.ops
	s.sharedQ.ops = nil
	s.sharedQ.mu.Unlock()
	func() {
		defer unlock() // also if a write panics: the others' writes go on
		s.commitShared(batch)
	}()
	<-op.done // op was queued before the lock was taken: it is in batch
	return op.err
}

// commitShared runs batch's writes in one transaction; the caller holds
// the write lock.
func (s *DB) commitShared(batch []*sharedOp) {
	ctx, cancel := context.WithTimeout(context.Background(), sharedCommitTimeout)
	defer cancel()
	err := errors.New("a shared write panicked")
	// Every waiter gets an answer, whatever happens here.
	defer func() {
		for _, op := range batch {
			op.err = err
			close(op.done)
		}
	}()
	err = func() error {
		tx, err := s.sql.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("begin transaction: %w", err)
		}
		defer tx.Rollback() // after a failure or a panic; no-op once committed
		for _, op := range batch {
			if err := op.run(ctx, tx); err != nil {
				return err
			}
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("commit: %w", err)
		}
		return nil
	}()
}

// PurgeConsumed forgets markers that expired before now.
func (s *DB) PurgeConsumed(ctx context.Context, now time.Time) (int64, error) {
	unlock, err := s.waitWrites(ctx)
	if err != nil {
		return 0, fmt.Errorf("purge consumed: %w", err)
	}
	defer unlock()
	res, err := s.sql.ExecContext(ctx, s.Rebind("DELETE FROM consumed WHERE expires_at < ?"), now.UnixMicro())
	if err != nil {
		return 0, fmt.Errorf("purge consumed: %w", err)
	}
	return res.RowsAffected()
}
