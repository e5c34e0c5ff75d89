package audit

// Design note: the group-commit writer.
//
// Record must not return before its event is committed, and a commit (an
// fsync on SQLite, a round trip and a WAL flush on PostgreSQL) costs far
// more than building a record. So callers hand their encoded event to one
// writer goroutine through a channel and wait; the writer takes whatever
// is queued (up to MaxBatch), appends it in one transaction and wakes every
// waiter of the batch. While a commit runs the next batch queues up, so
// the batch size follows the load with no timer.
//
// The chain head is read and moved inside that transaction, under the
// database's lock on the head row, so several replicas writing one
// database still make one gap-free chain. The last record of each batch
// carries a signed checkpoint of the new head, so a record added behind
// the writer's back (even one that links correctly) is not covered by any
// signature.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// ErrClosed is returned by Record after Close.
var ErrClosed = errors.New("audit log closed")

// Keys signs and verifies checkpoints. *keys.Manager satisfies it.
type Keys interface {
	// SignJSON signs claims as a compact JWS with the active key of alg.
	SignJSON(alg, typ string, claims any) (string, error)
	// Verify checks a compact JWS against the published keys and returns
	// its payload.
	Verify(token, typ string) ([]byte, error)
	// JWKS returns the published keys as a JSON Web Key Set, so that a
	// checkpoint by a key no longer published is told apart from a forged
	// one.
	JWKS() []byte
}

// Options tune a Log. The zero value (or nil) is the default.
type Options struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives the writer's errors; nil discards them.
	Logger *slog.Logger
	// MaxBatch caps how many records one transaction appends; 0 means 256.
	MaxBatch int
	// MaxEventBytes caps an event's JSON; past it the Detail and Reasons
	// are replaced by a marker. 0 means 64 KiB.
	MaxEventBytes int
	// CheckpointInterval is how often a signed checkpoint of the head is
	// stored when the head has moved; 0 means 5 minutes, < 0 never (for
	// commands that only read). Without Keys there are no checkpoints.
	CheckpointInterval time.Duration
	// PollInterval is how often Tail(follow) and streams look for records
	// written by other replicas; records written through this Log wake
	// them at once. 0 means 1 second.
	PollInterval time.Duration
	// CommitTimeout bounds one batch transaction; 0 means 30 seconds.
	CommitTimeout time.Duration
	// Retention, when > 0, makes the log prune records older than this
	// once an hour (see Prune); 0 keeps everything. It needs Keys and a
	// CheckpointInterval ≥ 0.
	Retention time.Duration
}

// Log is the audit trail on a store: an append-only, hash-chained log
// with signed checkpoints. It implements Recorder and is safe for
// concurrent use.
type Log struct {
	st   store.AuditStore
	keys Keys
	now  func() time.Time
	log  *slog.Logger

	maxBatch  int
	maxEvent  int
	poll      time.Duration
	commitMax time.Duration

	mu     sync.RWMutex // guards closed against sends on in
	closed bool
	in     chan *pending
	wdone  chan struct{} // the writer has exited

	ckStop chan struct{}
	ckDone chan struct{}
	ckMu   sync.Mutex
	ckSeq  int64     // head seq of the last checkpoint this Log wrote
	ckAt   time.Time // and its time

	chMu    sync.Mutex
	changed chan struct{} // closed and replaced after each commit

	records atomic.Int64
	batches atomic.Int64
	failed  atomic.Int64
}

type pending struct {
	raw  []byte
	ev   *Event
	done chan result
}

type result struct {
	seq int64
	err error
}

var _ Recorder = (*Log)(nil)

// New returns the audit log on st and starts its writer. keys signs the
// checkpoints and verifies them; nil means an unsigned log (for tests and
// tools that only read). Close stops it.
func New(st store.AuditStore, keys Keys, opts *Options) *Log {
	var o Options
	if opts != nil {
		o = *opts
	}
	l := &Log{st: st, keys: keys, now: o.Now, log: o.Logger,
		maxBatch: o.MaxBatch, maxEvent: o.MaxEventBytes, poll: o.PollInterval, commitMax: o.CommitTimeout,
		wdone: make(chan struct{}), ckStop: make(chan struct{}), ckDone: make(chan struct{}),
		changed: make(chan struct{})}
	if l.now == nil {
		l.now = time.Now
	}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	if l.maxBatch <= 0 {
		l.maxBatch = 256
	}
	if l.maxEvent <= 0 {
		l.maxEvent = 64 << 10
	}
	if l.poll <= 0 {
		l.poll = time.Second
	}
	if l.commitMax <= 0 {
		l.commitMax = 30 * time.Second
	}
	l.in = make(chan *pending, 4*l.maxBatch)
	go l.write()
	every := o.CheckpointInterval
	if every == 0 {
		every = 5 * time.Minute
	}
	if keys != nil && every > 0 {
		go l.checkpointEvery(every, o.Retention)
	} else {
		close(l.ckDone)
	}
	return l
}

// Record appends e to the trail and returns once it is committed. If ctx
// ends first Record returns its error, and the event may or may not be in
// the trail.
func (l *Log) Record(ctx context.Context, e Event) error {
	_, err := l.Append(ctx, e)
	return err
}

// Append is Record that also returns the record's sequence number.
func (l *Log) Append(ctx context.Context, e Event) (int64, error) {
	raw, err := encodeEvent(e, l.maxEvent)
	if err != nil {
		return 0, err
	}
	p := &pending{raw: raw, ev: &e, done: make(chan result, 1)}
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return 0, ErrClosed
	}
	select {
	case l.in <- p:
	case <-ctx.Done():
		l.mu.RUnlock()
		return 0, fmt.Errorf("audit record not queued: %w", ctx.Err())
	}
	l.mu.RUnlock()
	select {
	case r := <-p.done:
		return r.seq, r.err
	case <-ctx.Done():
		return 0, fmt.Errorf("audit record not confirmed: %w", ctx.Err())
	}
}

// Close stops taking records, waits until every queued one is committed,
// and, when this Log committed records, stores a last checkpoint of the
// head. It does not close the store.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	close(l.in)
	l.mu.Unlock()
	<-l.wdone
	close(l.ckStop)
	<-l.ckDone
	if l.keys == nil || l.records.Load() == 0 {
		// A Log that wrote nothing (a command that only reads) signs
		// nothing: the head it would sign is not its own.
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.commitMax)
	defer cancel()
	if _, err := l.checkpointIfMoved(ctx, KindClose); err != nil {
		return fmt.Errorf("final audit checkpoint: %w", err)
	}
	return nil
}

// Stats are the writer's counters since New.
type Stats struct {
	Records int64 // records committed
	Batches int64 // transactions committed
	Failed  int64 // records whose batch failed to commit
}

// Stats returns the writer's counters, for /metrics.
func (l *Log) Stats() Stats {
	return Stats{Records: l.records.Load(), Batches: l.batches.Load(), Failed: l.failed.Load()}
}

// write is the writer goroutine.
func (l *Log) write() {
	defer close(l.wdone)
	batch := make([]*pending, 0, l.maxBatch)
	for p := range l.in {
		batch = append(batch[:0], p)
	fill:
		for len(batch) < l.maxBatch {
			select {
			case p, ok := <-l.in:
				if !ok {
					break fill
				}
				batch = append(batch, p)
			default:
				break fill
			}
		}
		l.commit(batch)
		clear(batch)
	}
}

// commit appends one batch and wakes its waiters.
func (l *Log) commit(batch []*pending) {
	ctx, cancel := context.WithTimeout(context.Background(), l.commitMax)
	defer cancel()
	at := time.UnixMicro(l.now().UnixMicro()).UTC()
	micros := at.UnixMicro()
	head, err := l.st.AppendAudit(ctx, func(h store.AuditHead) ([]store.AuditRecord, error) {
		recs := make([]store.AuditRecord, len(batch))
		prev := h.Hash
		for i, p := range batch {
			seq := h.Seq + int64(i) + 1
			hash := chainHash(prev, seq, micros, p.raw)
			e := p.ev
			recs[i] = store.AuditRecord{Seq: seq, Time: at, Event: p.raw, Prev: prev, Hash: hash,
				Type: indexValue(e.Type), Actor: indexValue(e.Actor), Agent: indexValue(e.Agent),
				Tool: indexValue(e.Tool), Decision: indexValue(e.Decision),
				Correlation: indexValue(e.Correlation), Session: indexValue(e.Session)}
			prev = hash
		}
		if l.keys != nil {
			last := &recs[len(recs)-1]
			sig, err := l.sign(Checkpoint{Seq: last.Seq, Hash: last.Hash, Time: at, Kind: KindBatch})
			if err != nil {
				return nil, err
			}
			last.Sig = sig
		}
		return recs, nil
	})
	if err != nil {
		l.failed.Add(int64(len(batch)))
		l.log.Error("audit commit failed", "records", len(batch), "err", err)
		err = fmt.Errorf("audit commit: %w", err)
		for _, p := range batch {
			p.done <- result{err: err}
		}
		return
	}
	l.records.Add(int64(len(batch)))
	l.batches.Add(1)
	first := head.Seq - int64(len(batch)) + 1
	for i, p := range batch {
		p.done <- result{seq: first + int64(i)}
	}
	l.chMu.Lock()
	close(l.changed)
	l.changed = make(chan struct{})
	l.chMu.Unlock()
}

// changedCh returns a channel closed at the next commit of this Log.
func (l *Log) changedCh() <-chan struct{} {
	l.chMu.Lock()
	defer l.chMu.Unlock()
	return l.changed
}

// checkpointEvery writes periodic checkpoints and, with a retention,
// prunes once an hour.
func (l *Log) checkpointEvery(every, retention time.Duration) {
	defer close(l.ckDone)
	t := time.NewTicker(every)
	defer t.Stop()
	var prune <-chan time.Time
	if retention > 0 {
		pt := time.NewTicker(time.Hour)
		defer pt.Stop()
		prune = pt.C
	}
	for {
		select {
		case <-l.ckStop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), l.commitMax)
			if _, err := l.checkpointIfMoved(ctx, KindPeriodic); err != nil {
				l.log.Error("audit checkpoint failed", "err", err)
			}
			cancel()
		case <-prune:
			ctx, cancel := context.WithTimeout(context.Background(), 10*l.commitMax)
			if n, err := l.Prune(ctx, l.now().Add(-retention)); err != nil {
				l.log.Error("audit pruning failed", "err", err)
			} else if n > 0 {
				l.log.Info("audit records pruned", "records", n)
			}
			cancel()
		}
	}
}
