package audit

// Design note: the group-commit writer.
//
// Record must not return before its event is committed, and a commit (an
// fsync on SQLite, a round trip and a WAL flush on PostgreSQL) costs far
// more than building a record. So callers hand their encoded event to one
// writer goroutine through a channel and wait; the writer takes whatever
// is queued (up to MaxBatch), appends it in one transaction and wakes every
// waiter of the batch. While a commit runs (or waits for the database's
// write lock) the next records queue up, so the batch size follows the
// load with no timer for records somebody waits for.
//
// A caller with several records to write at one point (the gateway's
// allow and its slip) hands them over together (RecordAll: one unit, one
// transaction, one wait); a record nobody needs to wait for yet (a slip's
// redemption, between a call's allow and its result) is queued without
// waiting (Enqueue), and the next waited record, committed after it in the
// same order, covers it.
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
	"iter"
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
	// Logger receives the writer's errors; nil discards them. A failed
	// commit is a warning when every caller of its records waits and is
	// handed the error to report, an error otherwise.
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
	// CommitDelay is how long the writer may hold a batch for the records
	// of other callers that said they will record soon (Busy), when
	// records have been arriving faster than one per CommitDelay: one
	// commit then serves several concurrent calls instead of one each
	// (PostgreSQL's commit_delay, for the same reason). A lone caller, or
	// a slow trickle, never waits for it. 0 means 1 ms; < 0 never holds.
	CommitDelay time.Duration
	// Retention, when > 0, makes the log prune records older than this
	// when it starts and once an hour (see Prune), except those a stream
	// has not delivered yet; 0 keeps everything. It needs Keys and a
	// CheckpointInterval ≥ 0. SetRetention changes it.
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
	delay     time.Duration

	// busy counts the callers that said they will record soon (Busy);
	// lastWait and meanGap (an exponential mean of the time between two
	// waited records, in ns) tell how fast records arrive. Heuristics for
	// CommitDelay: read and written without a lock.
	busy     atomic.Int64
	unbusy   chan struct{} // a busy caller finished (wakes a holding writer)
	holding  chan struct{} // tests: told when the writer starts holding
	lastWait atomic.Int64
	meanGap  atomic.Int64

	mu     sync.RWMutex // guards closed against sends on in
	closed bool
	in     chan *pending
	wdone  chan struct{} // the writer has exited

	ckStop chan struct{}
	ckDone chan struct{}
	// retention is Options.Retention as it is now (ns); pruneNow asks the
	// checkpointer to prune at once.
	retention atomic.Int64
	pruneNow  chan struct{}
	ckMu      sync.Mutex
	ckSeq     int64     // head seq of the last checkpoint this Log wrote
	ckHash    string    // its hash
	ckAt      time.Time // and its time

	chMu    sync.Mutex
	changed chan struct{} // closed and replaced after each commit

	records atomic.Int64
	batches atomic.Int64
	failed  atomic.Int64

	// holdMu guards holds: the streams started on this Log (see Stream).
	// Prune keeps every record one of them has not delivered yet.
	holdMu sync.Mutex
	holds  []*stream
}

// pending is what one caller queued: one record (Record, Append,
// Enqueue) or several that go into one transaction together (RecordAll).
type pending struct {
	recs []queued
	// done receives the outcome; nil for Enqueue, whose caller does not
	// wait (and whose records a failed commit carries to the next one).
	done chan result
	// left is set when the waiter stopped waiting (its ctx ended): no
	// one hears the outcome sent on done.
	left atomic.Bool
}

type queued struct {
	raw   []byte
	ev    Event         // a copy: only its index fields are read
	marks *store.Marker // written with this record (RecordAllMarking)
}

type result struct {
	seq int64
	err error
}

var (
	_ Recorder        = (*Log)(nil)
	_ BatchRecorder   = (*Log)(nil)
	_ Enqueuer        = (*Log)(nil)
	_ MarkingRecorder = (*Log)(nil)
	_ BusyHinter      = (*Log)(nil)
)

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
		delay: o.CommitDelay, unbusy: make(chan struct{}, 1), pruneNow: make(chan struct{}, 1),
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
	if l.delay == 0 {
		l.delay = time.Millisecond
	}
	l.in = make(chan *pending, 4*l.maxBatch)
	go l.write()
	every := o.CheckpointInterval
	if every == 0 {
		every = 5 * time.Minute
	}
	l.retention.Store(int64(o.Retention))
	if keys != nil && every > 0 {
		go l.checkpointEvery(every)
	} else {
		close(l.ckDone)
	}
	return l
}

// Record appends e to the trail and returns once it is committed. If ctx
// ends first Record returns its error, and the event may or may not be in
// the trail. A nil error also means that every record Enqueued before
// Record was called is committed (see Enqueue).
func (l *Log) Record(ctx context.Context, e Event) error {
	_, err := l.Append(ctx, e)
	return err
}

// Append is Record that also returns the record's sequence number.
func (l *Log) Append(ctx context.Context, e Event) (int64, error) {
	p, err := l.prepare(true, e)
	if err != nil {
		return 0, err
	}
	return l.wait(ctx, p)
}

// RecordAll appends events in the order given, all in one transaction
// (none is committed without the others), and returns once they are
// committed: one durable wait for several records. If ctx ends first it
// returns ctx's error, and the events may or may not be in the trail.
//
// Like Record, it also covers what was queued before it: every record
// Enqueued before RecordAll was called is committed no later than the
// transaction holding events (see Enqueue).
func (l *Log) RecordAll(ctx context.Context, events ...Event) error {
	if len(events) == 0 {
		return nil
	}
	p, err := l.prepare(true, events...)
	if err != nil {
		return err
	}
	_, err = l.wait(ctx, p)
	return err
}

// RecordAllMarking is RecordAll that also writes the single-use marker m
// in the same transaction: the events and the marker are durable together
// or not at all. If m is already used (Consume, or an earlier marking),
// the transaction fails and RecordAllMarking returns its error; the batch
// it shared with other callers' records fails with it, as any failed
// commit does (their records are then retried or refused, as documented
// on Enqueue and Record). A fresh marker is a random ID, so this happens
// only when something is wrong.
func (l *Log) RecordAllMarking(ctx context.Context, m store.Marker, events ...Event) error {
	if len(events) == 0 {
		return errors.New("audit: a marker needs a record to go with")
	}
	p, err := l.prepare(true, events...)
	if err != nil {
		return err
	}
	p.recs[len(p.recs)-1].marks = &m
	_, err = l.wait(ctx, p)
	return err
}

// Enqueue queues e to be appended and returns without waiting for its
// commit; it waits (until ctx ends) only when the writer is so far behind
// that its queue is full. It fails only when e cannot be encoded, the Log
// is closed or ctx ended before e was queued.
//
// Ordering guarantee: records are appended in the order they are queued,
// and group commit keeps that order across transactions. A commit that
// fails does not drop an enqueued record: the writer retries it, ahead of
// everything queued after it, until it commits. So when a Record,
// RecordAll or Append that was called after Enqueue returned (on the same
// goroutine, or ordered after it by other synchronisation) returns nil, e
// is durably in the trail, before that record. The gateway relies on this:
// what happens between a call's allow and its result (the slip's
// redemption) is enqueued, and the result's durable wait covers it.
//
// An enqueued record is committed with the next record somebody waits
// for, or on its own after at most 20 ms when none comes. Until it is
// committed or covered by such a wait it may be lost if the process dies;
// it is logged and counted in Stats.Failed if the store still refuses it
// when the Log is closed.
func (l *Log) Enqueue(ctx context.Context, e Event) error {
	p, err := l.prepare(false, e)
	if err != nil {
		return err
	}
	return l.send(ctx, p)
}

// prepare encodes events into one pending unit.
func (l *Log) prepare(wait bool, events ...Event) (*pending, error) {
	p := &pending{recs: make([]queued, len(events))}
	for i := range events {
		raw, err := encodeEvent(events[i], l.maxEvent)
		if err != nil {
			return nil, err
		}
		p.recs[i] = queued{raw: raw, ev: events[i]}
	}
	if wait {
		p.done = make(chan result, 1)
	}
	return p, nil
}

// send hands p to the writer.
func (l *Log) send(ctx context.Context, p *pending) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return ErrClosed
	}
	select {
	case l.in <- p:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("audit record not queued: %w", ctx.Err())
	}
}

// wait sends p and waits for its commit.
func (l *Log) wait(ctx context.Context, p *pending) (int64, error) {
	now := time.Now().UnixNano()
	if last := l.lastWait.Swap(now); last != 0 {
		gap := now - last
		m := l.meanGap.Load()
		l.meanGap.Store(m - m/8 + gap/8)
	}
	if err := l.send(ctx, p); err != nil {
		return 0, err
	}
	select {
	case r := <-p.done:
		return r.seq, r.err
	case <-ctx.Done():
		p.left.Store(true)
		return 0, fmt.Errorf("audit record not confirmed: %w", ctx.Err())
	}
}

// Busy tells the log that the caller is about to record and wait, soon
// and more than once (a tool call: its allow, then its result); done says
// it has finished. While other busy callers have no record in the batch
// being formed and records arrive fast, the writer holds the batch up to
// Options.CommitDelay for them (see there).
func (l *Log) Busy() (done func()) {
	l.busy.Add(1)
	var once sync.Once
	return func() {
		once.Do(func() {
			l.busy.Add(-1)
			select {
			case l.unbusy <- struct{}{}:
			default:
			}
		})
	}
}

// Close stops taking records, waits until every queued one is committed,
// stops a prune under way (see prune), and, when this Log committed
// records, stores a last checkpoint of the head. It does not close the
// store.
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
	Failed  int64 // records whose batch failed to commit (enqueued ones: only once given up)
}

// Stats returns the writer's counters, for /metrics.
func (l *Log) Stats() Stats {
	return Stats{Records: l.records.Load(), Batches: l.batches.Load(), Failed: l.failed.Load()}
}

// write is the writer goroutine. A batch is what was queued while the
// previous commit ran, at most MaxBatch records (a RecordAll unit is never
// split), topped up with what queued while the transaction waited for the
// database's write lock (see commit). When a commit fails, its waiters get
// the error, and its enqueued records (whose callers did not wait) are
// carried to the head of the next batch, retried after a pause, so that a
// later record never commits without them (see Enqueue).
func (l *Log) write() {
	defer close(l.wdone)
	w := &writer{l: l, open: true, batch: make([]*pending, 0, l.maxBatch)}
	var carry []*pending
	fails := 0
	for {
		w.batch = append(w.batch[:0], carry...)
		carry = carry[:0]
		switch {
		case len(w.batch) == 0:
			if !w.open {
				return
			}
			p, ok := <-l.in
			if !ok {
				return
			}
			w.batch = append(w.batch, p)
		case fails > 0:
			// Do not hammer a store that just failed; what queues
			// meanwhile joins the retry.
			time.Sleep(min(retryPause<<min(fails-1, 6), retryPauseMax))
		}
		w.fill()
		w.awaitWaiter()
		w.hold()
		if w.commit() {
			fails = 0
		} else {
			fails++
			for _, p := range w.batch {
				if p.done == nil {
					carry = append(carry, p)
				}
			}
			if !w.open && fails >= closeRetries && len(carry) > 0 {
				lost := 0
				for _, p := range carry {
					lost += len(p.recs)
				}
				l.failed.Add(int64(lost))
				l.log.Error("audit records lost: the store refused them until the log closed", "records", lost)
				carry = carry[:0]
			}
		}
		clear(w.batch)
	}
}

// Retry pacing of a failed commit that held enqueued records.
const (
	retryPause    = 50 * time.Millisecond
	retryPauseMax = 2 * time.Second
	closeRetries  = 5 // attempts after Close before enqueued records are given up
)

// writer is the writer goroutine's state.
type writer struct {
	l     *Log
	open  bool // l.in is not closed
	batch []*pending
	// head is the chain head this writer last committed, when known: the
	// next batch is hashed and signed against it before the transaction
	// starts, and used as is when the database's head is still it.
	head      store.AuditHead
	knownHead bool
	// noHoldUntil: hold nothing before then (see holdBackoff); emptyHolds
	// counts the holds in a row that nobody joined.
	noHoldUntil time.Time
	emptyHolds  int
}

func (w *writer) size() int {
	n := 0
	for _, p := range w.batch {
		n += len(p.recs)
	}
	return n
}

// take adds p, just received from l.in, to the batch and returns how many
// records it holds; ok false (l.in closed) marks the writer closed.
func (w *writer) take(p *pending, ok bool) (int, bool) {
	if !ok {
		w.open = false
		return 0, false
	}
	w.batch = append(w.batch, p)
	return len(p.recs), true
}

// fill adds what is queued, without waiting, up to MaxBatch records.
func (w *writer) fill() {
	for n := w.size(); w.open && n < w.l.maxBatch; {
		select {
		case p, ok := <-w.l.in:
			k, more := w.take(p, ok)
			if !more {
				return
			}
			n += k
		default:
			return
		}
	}
}

// enqueueDelay is how long enqueued records wait for a record someone
// waits for before they are committed on their own. Enqueued records are
// usually followed at once by one (the gateway queues a slip's redemption
// and records the call's result moments later), which then takes them
// along: a commit saved.
const enqueueDelay = 20 * time.Millisecond

// hold keeps the batch open for up to CommitDelay while busy callers
// without a record in it may send one soon: at least two more callers
// said they are busy than the batch has waited records (a caller waits
// for one record at a time), and waited records have been arriving less
// than CommitDelay apart. It ends early once every busy caller is in.
// Holds that nobody joins, several in a row (busy callers waiting on slow
// tools), stop holding for a while (emptyHoldsMax, holdBackoff).
func (w *writer) hold() {
	l := w.l
	if l.delay <= 0 || !w.open || time.Duration(l.meanGap.Load()) >= l.delay || time.Now().Before(w.noHoldUntil) {
		return
	}
	waited := 0
	for _, p := range w.batch {
		if p.done != nil {
			waited++
		}
	}
	// Two callers or more still out: with one, holding costs it what it
	// saves the other.
	if waited == 0 || l.busy.Load()-int64(waited) < 2 {
		return
	}
	if l.holding != nil {
		l.holding <- struct{}{}
	}
	t := time.NewTimer(l.delay)
	defer t.Stop()
	before := waited
	for n := w.size(); n < l.maxBatch && l.busy.Load() > int64(waited); {
		select {
		case p, ok := <-l.in:
			k, more := w.take(p, ok)
			if !more {
				return
			}
			n += k
			if p.done != nil {
				waited++
			}
		case <-l.unbusy: // the loop looks again
		case <-t.C:
			if waited > before {
				w.emptyHolds = 0
				return
			}
			// Nobody came. Several times in a row: the busy callers are
			// busy elsewhere (slow tools), and holding again soon would
			// only delay.
			if w.emptyHolds++; w.emptyHolds >= emptyHoldsMax {
				w.emptyHolds = 0
				w.noHoldUntil = time.Now().Add(holdBackoff * l.delay)
			}
			return
		}
	}
	w.emptyHolds = 0
}

// After emptyHoldsMax holds in a row that nobody joined, the writer holds
// nothing for holdBackoff CommitDelays.
const (
	emptyHoldsMax = 3
	holdBackoff   = 100
)

// awaitWaiter holds a batch of only enqueued records (nobody waits for
// them) until a record somebody waits for joins it, the batch is full, the
// Log closes or enqueueDelay passes.
func (w *writer) awaitWaiter() {
	if !w.open {
		return
	}
	n := 0
	for _, p := range w.batch {
		if p.done != nil {
			return
		}
		n += len(p.recs)
	}
	t := time.NewTimer(enqueueDelay)
	defer t.Stop()
	for n < w.l.maxBatch {
		select {
		case p, ok := <-w.l.in:
			k, more := w.take(p, ok)
			if !more {
				return
			}
			n += k
			if p.done != nil {
				w.fill()
				return
			}
		case <-t.C:
			return
		}
	}
}

// records builds the batch's records on head at the given time: hashes,
// index values and the signed checkpoint on the last one.
func (w *writer) records(h store.AuditHead, at time.Time) ([]store.AuditRecord, error) {
	return w.l.chain(h, at, w.size(), func(yield func(*queued) bool) {
		for _, p := range w.batch {
			for i := range p.recs {
				if !yield(&p.recs[i]) {
					return
				}
			}
		}
	})
}

// chain builds the records of n queued events, in order, on head h at the
// given time: hashes, index values and the signed checkpoint of a batch on
// the last one. Every append of this package builds its records here.
func (l *Log) chain(h store.AuditHead, at time.Time, n int, all iter.Seq[*queued]) ([]store.AuditRecord, error) {
	micros := at.UnixMicro()
	recs := make([]store.AuditRecord, 0, n)
	prev := h.Hash
	for q := range all {
		seq := h.Seq + int64(len(recs)) + 1
		hash := chainHash(prev, seq, micros, q.raw)
		e := &q.ev
		recs = append(recs, store.AuditRecord{Seq: seq, Time: at, Event: q.raw, Prev: prev, Hash: hash,
			Type: indexValue(e.Type), Actor: indexValue(e.Actor), Agent: indexValue(e.Agent),
			Tool: indexValue(e.Tool), Decision: indexValue(e.Decision),
			Correlation: indexValue(e.Correlation), Session: indexValue(e.Session), Marks: q.marks})
		prev = hash
	}
	if l.keys != nil && len(recs) > 0 {
		last := &recs[len(recs)-1]
		after := h.Seq
		sig, err := l.sign(Checkpoint{Seq: last.Seq, Hash: last.Hash, Time: at, Kind: KindBatch}, &after)
		if err != nil {
			return nil, err
		}
		last.Sig = sig
	}
	return recs, nil
}

// commit appends the batch in one transaction and wakes its waiters. It
// reports whether the batch committed.
//
// Two things keep the database's write lock short and the batches full.
// The records are hashed and signed before the transaction, against the
// head this writer last wrote, and used as they are when the head is
// still that one (another replica may have moved it: then they are built
// again inside). And once the transaction holds the lock, what queued
// while it waited for it joins the batch: under contention the lock wait
// grows the batch instead of delaying the next one.
func (w *writer) commit() bool {
	l := w.l
	ctx, cancel := context.WithTimeout(context.Background(), l.commitMax)
	defer cancel()
	at := time.UnixMicro(l.now().UnixMicro()).UTC()
	var pre []store.AuditRecord
	if w.knownHead {
		pre, _ = w.records(w.head, at) // on error, built again (and reported) inside
	}
	var (
		head    store.AuditHead
		applied bool
		err     error
		built   []store.AuditRecord // what the last attempt appended
	)
	if fast, ok := l.st.(store.AuditAppenderAt); ok && pre != nil {
		// One step on the head this writer last wrote (a database server:
		// one round trip); if another replica moved it, the usual way.
		built = pre
		head, applied, err = fast.AppendAuditAt(ctx, w.head, pre)
	}
	if err == nil && !applied {
		head, err = l.st.AppendAudit(ctx, func(h store.AuditHead) ([]store.AuditRecord, error) {
			n := len(w.batch)
			w.fill()
			if pre != nil && len(w.batch) == n && h == w.head {
				built = pre
				return pre, nil
			}
			recs, err := w.records(h, at)
			built = recs
			return recs, err
		})
	}
	if err != nil && len(built) > 0 {
		// A commit whose answer was lost (a connection reset, a timeout
		// as the database answered) may have committed all the same:
		// then its records are in the log, and appending them again
		// would record each event twice.
		if h, ok := w.committed(built[len(built)-1]); ok {
			head, err = h, nil
		}
	}
	n := w.size()
	if err != nil {
		w.knownHead = false
		// A caller waiting on its records is handed the error below and
		// reports it with what it was doing (the gateway: the request it
		// refused, under the request's ID), so the writer's own line is a
		// warning there, not a second error for one failure. Records no
		// caller hears of (enqueued ones, or their waiter gone) leave the
		// writer the only one to say so, as an error.
		waited, level := 0, slog.LevelWarn
		for _, p := range w.batch {
			if p.done != nil {
				waited += len(p.recs)
			}
			if p.done == nil || p.left.Load() {
				level = slog.LevelError
			}
		}
		l.failed.Add(int64(waited))
		l.log.Log(ctx, level, "audit commit failed", "records", n, "err", err)
		err = fmt.Errorf("audit commit: %w", err)
		for _, p := range w.batch {
			if p.done != nil {
				p.done <- result{err: err}
			}
		}
		return false
	}
	w.head, w.knownHead = head, true
	l.records.Add(int64(n))
	l.batches.Add(1)
	seq := head.Seq - int64(n) + 1
	for _, p := range w.batch {
		if p.done != nil {
			p.done <- result{seq: seq}
		}
		seq += int64(len(p.recs))
	}
	l.chMu.Lock()
	close(l.changed)
	l.changed = make(chan struct{})
	l.chMu.Unlock()
	return true
}

// committed reports whether last, the last record of a batch whose commit
// failed, is in the log all the same, with the head as it stood after it.
func (w *writer) committed(last store.AuditRecord) (store.AuditHead, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), w.l.commitMax)
	defer cancel()
	got, err := w.l.st.AuditRecords(ctx, store.AuditFilter{After: last.Seq - 1, Before: last.Seq + 1, Limit: 1})
	if err != nil || len(got) != 1 || got[0].Seq != last.Seq || got[0].Hash != last.Hash {
		return store.AuditHead{}, false
	}
	return store.AuditHead{Seq: last.Seq, Hash: last.Hash}, true
}

// changedCh returns a channel closed at the next commit of this Log.
func (l *Log) changedCh() <-chan struct{} {
	l.chMu.Lock()
	defer l.chMu.Unlock()
	return l.changed
}

// checkpointEvery writes periodic checkpoints and, with a retention,
// prunes when it starts, once an hour, and when the retention changes.
func (l *Log) checkpointEvery(every time.Duration) {
	defer close(l.ckDone)
	t := time.NewTicker(every)
	defer t.Stop()
	pt := time.NewTicker(time.Hour)
	defer pt.Stop()
	select { // at once: a log restarted more often than hourly still prunes
	case l.pruneNow <- struct{}{}:
	default:
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
		case <-pt.C:
			l.prune()
		case <-l.pruneNow:
			l.prune()
		}
	}
}

// prune prunes what the retention no longer keeps, if there is one. Close
// stops a prune under way: it walks the whole chain first, which takes a
// while on a large trail, and Close would wait for it (a server asked to
// stop, not stopping). Pruning is one transaction, so a prune stopped so
// prunes nothing; the next start prunes again.
func (l *Log) prune() {
	retention := time.Duration(l.retention.Load())
	if retention <= 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*l.commitMax)
	defer cancel()
	go func() {
		select {
		case <-l.ckStop:
			cancel()
		case <-ctx.Done():
		}
	}()
	if n, err := l.Prune(ctx, l.now().Add(-retention)); err != nil {
		select {
		case <-l.ckStop:
			l.log.Info("audit pruning stopped: the log closed", "err", err)
		default:
			l.log.Error("audit pruning failed", "err", err)
		}
	} else if n > 0 {
		l.log.Info("audit records pruned", "records", n)
	}
}

// Retention is the retention the log prunes by (0: it keeps everything).
func (l *Log) Retention() time.Duration { return time.Duration(l.retention.Load()) }

// SetRetention changes the retention (0: keep everything); a new one
// prunes at once. It is how a changed tenant setting applies without a
// restart.
func (l *Log) SetRetention(d time.Duration) {
	if old := l.retention.Swap(int64(d)); d > 0 && old != int64(d) {
		select {
		case l.pruneNow <- struct{}{}:
		default: // a prune is already asked for
		}
	}
}
