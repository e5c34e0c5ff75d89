package sqldb

import (
	"context"
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

// consumeReq is one queued marker and where its answer goes.
type consumeReq struct {
	kind, id string
	expires  int64
	first    bool
	err      error
	done     chan struct{} // closed once first and err are set
}

// consumeQueue holds the markers waiting for a commit.
type consumeQueue struct {
	mu   sync.Mutex
	reqs []*consumeReq
}

// consumeCommitTimeout bounds one shared marker transaction: it outlives
// the caller that runs it, since it carries other callers' markers.
const consumeCommitTimeout = 30 * time.Second

func (s *DB) consumeShared(ctx context.Context, kind, id string, expires time.Time) (bool, error) {
	r := &consumeReq{kind: kind, id: id, expires: expires.UnixMicro(), done: make(chan struct{})}
	s.consumeQ.mu.Lock()
	s.consumeQ.reqs = append(s.consumeQ.reqs, r)
	s.consumeQ.mu.Unlock()

	unlock := s.LockWrites()
	select {
	case <-r.done: // an earlier lock holder committed it
		unlock()
		return r.first, r.err
	default:
	}
	s.consumeQ.mu.Lock()
	batch := s.consumeQ.reqs
	s.consumeQ.reqs = nil
	s.consumeQ.mu.Unlock()
	s.consumeBatch(batch)
	unlock()
	<-r.done // r was queued before the lock was taken: it is in batch
	return r.first, r.err
}

// consumeBatch inserts batch's markers in one transaction; the caller
// holds the write lock.
func (s *DB) consumeBatch(batch []*consumeReq) {
	ctx, cancel := context.WithTimeout(context.Background(), consumeCommitTimeout)
	defer cancel()
	err := func() error {
		tx, err := s.sql.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("begin transaction: %w", err)
		}
		for _, r := range batch {
			res, err := s.execCached(ctx, tx, consumeInsert, r.kind, r.id, r.expires)
			if err != nil {
				_ = tx.Rollback()
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				_ = tx.Rollback()
				return err
			}
			r.first = n == 1
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("commit: %w", err)
		}
		return nil
	}()
	for _, r := range batch {
		if err != nil {
			r.first, r.err = false, fmt.Errorf("consume %s: %w", r.kind, err)
		}
		close(r.done)
	}
}

// PurgeConsumed forgets markers that expired before now.
func (s *DB) PurgeConsumed(ctx context.Context, now time.Time) (int64, error) {
	defer s.LockWrites()()
	res, err := s.sql.ExecContext(ctx, s.Rebind("DELETE FROM consumed WHERE expires_at < ?"), now.UnixMicro())
	if err != nil {
		return 0, fmt.Errorf("purge consumed: %w", err)
	}
	return res.RowsAffected()
}
