package audit

import (
	"context"
	"errors"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// ErrNoTx is returned by InTx when the Log's store cannot make a change and
// append its records in one transaction (it is no store.AuditedTx).
var ErrNoTx = errors.New("audit: the store cannot record a change in the change's own transaction")

// InTx makes a change and records it in one transaction of the Log's
// store. change makes its changes through tx and returns the events that
// record them; they are appended in that same transaction, on the chain
// head read and locked there, hashed and signed as the writer's batches
// are (one batch: a signed checkpoint on the last). Either the change and
// its records are stored, or neither is: when change fails, or its events
// cannot be encoded, signed or appended, nothing is kept and InTx returns
// the error (change's as it is). Returning no events keeps the change
// alone. InTx returns the first record's sequence number (0 with none).
//
// Other appenders may write the chain meanwhile (this Log's writer,
// another process's): the head is locked by the database, so the chain
// stays one sequence. This Log's writer finds the head moved by this
// append as it finds another replica's, and builds its next batch again.
//
// change must not record through this Log: the transaction may hold what
// the writer needs (the database's write lock on SQLite), and would wait
// for itself. Close waits for an InTx under way.
func (l *Log) InTx(ctx context.Context, change func(tx store.Tenant) ([]Event, error)) (int64, error) {
	st, ok := l.st.(store.AuditedTx)
	if !ok {
		return 0, ErrNoTx
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return 0, ErrClosed
	}
	n := 0
	head, err := st.InTxAudit(ctx, func(tx store.Tenant) (func(store.AuditHead) ([]store.AuditRecord, error), error) {
		n = 0
		events, err := change(tx)
		if err != nil || len(events) == 0 {
			return nil, err
		}
		p, err := l.prepare(false, events...)
		if err != nil {
			return nil, err
		}
		return func(h store.AuditHead) ([]store.AuditRecord, error) {
			at := time.UnixMicro(l.now().UnixMicro()).UTC()
			recs, err := l.chain(h, at, len(p.recs), func(yield func(*queued) bool) {
				for i := range p.recs {
					if !yield(&p.recs[i]) {
						return
					}
				}
			})
			n = len(recs)
			return recs, err
		}, nil
	})
	if err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, nil
	}
	l.records.Add(int64(n))
	l.batches.Add(1)
	l.chMu.Lock()
	close(l.changed)
	l.changed = make(chan struct{})
	l.chMu.Unlock()
	return head.Seq - int64(n) + 1, nil
}
