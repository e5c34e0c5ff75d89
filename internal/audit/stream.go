package audit

// Design note: streams read the store, not the write path.
//
// A sink is fed by its own goroutine that reads committed records after
// the sink's cursor (kept in the store), sends them, and moves the cursor
// only once the sink took them. So a slow or dead sink never holds up
// Record, a restart resends from the cursor (at least once, never lost
// while the records are kept), and a failing sink is retried with
// exponential backoff and counted. With several replicas, each claims the
// stream in the store before sending: one replica sends, and another takes
// over when it stops renewing its claim.

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// Sink receives the trail's records, in seq order, at least once.
type Sink interface {
	// Name identifies the sink; its position in the trail is stored under
	// it, so it must stay the same across restarts.
	Name() string
	// Send delivers entries. An error means they may not have arrived:
	// they are sent again, with later ones, after a backoff. Send must
	// return when ctx ends.
	Send(ctx context.Context, entries []Entry) error
}

// ErrBatchTooLarge marks a Send error that says the sink refused the
// entries for their size (a webhook's 413): the stream sends them again at
// once in halves, down to one record, and goes back to its full batch once
// it has caught up with the trail. A single record refused so is retried
// with backoff, as any failure. A Send that times out (the sink's own
// timeout, or SendTimeout) is sent again in halves too, after the backoff.
var ErrBatchTooLarge = errors.New("the sink refused the batch as too large")

// ErrBatchRefused marks a Send error that says the sink refused the
// batch for what it holds (a webhook's 4xx other than 408, 413 and 429):
// sent again unchanged it would be refused again. The stream sends the
// batch in halves, so that the records before the one refused are
// delivered, and then waits at that one, retrying it with its backoff
// (the receiver may be changed to take it).
var ErrBatchRefused = errors.New("the sink refused the batch")

// StreamOptions tune Stream. The zero value (or nil) is the default.
type StreamOptions struct {
	// Batch caps the records of one Send; 0 means 100.
	Batch int
	// MinBackoff is the first wait after a failed Send, doubled after each
	// further failure up to MaxBackoff; 0 means 1 second and 5 minutes.
	// Each wait is the backoff and up to a fifth more, at random.
	MinBackoff time.Duration
	MaxBackoff time.Duration
	// SendTimeout bounds one Send; 0 means 30 seconds.
	SendTimeout time.Duration
	// FromStart makes a sink that has no stored position start at the
	// first record kept; by default it starts at the head, with what is
	// written from then on.
	FromStart bool
	// Lease is how long a replica's claim to send a stream lasts without
	// renewal (it renews at least every PollInterval, also while it backs
	// off from a failing sink); another replica takes the stream over
	// after it. 0 means twice SendTimeout.
	Lease time.Duration
}

// SinkStats are one sink's counters, for /metrics and the dashboard.
type SinkStats struct {
	Name      string
	Sent      int64  // records delivered
	Failures  int64  // failed Sends
	Cursor    int64  // seq of the last record delivered (by whichever replica sends it)
	Failing   bool   // the last Send failed, or the stream cannot reach the store
	LastError string // the last failure, with no URL or secret in it
	// Active is true when this replica sends the stream; another replica
	// does when it is false.
	Active bool
	// LastSent is when this replica last delivered to the stream (zero:
	// not since it started), failing since or not.
	LastSent time.Time
	// HeldBack is how many records older than the retention the last
	// Prune kept because this stream had not delivered them yet (0 when
	// it had delivered them all, or nothing was pruned yet).
	HeldBack int64
}

// Streams feeds sinks from the trail. Close stops them.
type Streams struct {
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	streams []*stream
}

type stream struct {
	l     *Log
	sink  Sink
	o     StreamOptions
	owner string // this Streams' name in claims
	// startAt is the head when Stream was called, where a new stream
	// starts; -1 when it could not be read (then: the head at its start).
	startAt int64

	sent     atomic.Int64
	failures atomic.Int64
	cursor   atomic.Int64
	failing  atomic.Bool
	// storeDown: the last claim or read of the trail failed; the stream
	// delivers nothing until it works again, which counts as failing.
	storeDown atomic.Bool
	active    atomic.Bool
	heldBack  atomic.Int64 // set by Prune
	lastSent  atomic.Int64 // Unix µs of the last delivery; 0: none yet
	mu        sync.Mutex
	lastErr   string
}

// Stream starts feeding each sink from the trail, one goroutine per sink.
// From then on Prune keeps every record a sink has not delivered (see
// Prune).
func (l *Log) Stream(sinks []Sink, opts *StreamOptions) *Streams {
	var o StreamOptions
	if opts != nil {
		o = *opts
	}
	if o.Batch <= 0 {
		o.Batch = 100
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 5 * time.Minute
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = o.MinBackoff
	}
	if o.SendTimeout <= 0 {
		o.SendTimeout = 30 * time.Second
	}
	if o.Lease <= 0 {
		o.Lease = 2 * o.SendTimeout
	}
	owner := rand.Text()
	// A new stream starts with what is written from now on: the head now,
	// not when its goroutine first runs (records committed in between
	// would be skipped).
	startAt := int64(-1)
	if !o.FromStart {
		hctx, hcancel := context.WithTimeout(context.Background(), 5*time.Second)
		if h, err := l.st.AuditHead(hctx); err == nil {
			startAt = h.Seq
		}
		hcancel()
	}
	ctx, cancel := context.WithCancel(context.Background())
	ss := &Streams{cancel: cancel}
	for _, sk := range sinks {
		s := &stream{l: l, sink: sk, o: o, owner: owner, startAt: startAt}
		ss.streams = append(ss.streams, s)
		l.holdMu.Lock()
		l.holds = append(l.holds, s)
		l.holdMu.Unlock()
		ss.wg.Add(1)
		go func() {
			defer ss.wg.Done()
			s.run(ctx)
		}()
	}
	return ss
}

// Stats returns each sink's counters.
func (ss *Streams) Stats() []SinkStats {
	out := make([]SinkStats, 0, len(ss.streams))
	for _, s := range ss.streams {
		s.mu.Lock()
		last := s.lastErr
		s.mu.Unlock()
		var sentAt time.Time
		if us := s.lastSent.Load(); us != 0 {
			sentAt = time.UnixMicro(us).UTC()
		}
		out = append(out, SinkStats{Name: s.sink.Name(), Sent: s.sent.Load(), Failures: s.failures.Load(),
			Cursor: s.cursor.Load(), Failing: s.failing.Load() || s.storeDown.Load(), LastError: last, Active: s.active.Load(),
			HeldBack: s.heldBack.Load(), LastSent: sentAt})
	}
	return out
}

// Close stops every stream, waits for them and gives up their claims, so
// that another replica (or the next start) takes over at once. Records not
// delivered yet are sent from the stored position then: the Log's Prune
// keeps them for as long as the Log lives (a closed stream still counts
// as configured).
func (ss *Streams) Close() {
	ss.cancel()
	ss.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, s := range ss.streams {
		if !s.active.Load() {
			continue
		}
		// Given up by a lease that ends now; tried a few times, since until
		// the lease runs out no other replica (nor the next start) sends.
		var err error
		for try := 0; try < 3; try++ {
			now := s.l.now()
			if _, _, _, err = s.l.st.ClaimAuditCursor(ctx, s.sink.Name(), s.owner, now, now, 0); err == nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err != nil {
			s.log().Warn("audit stream cannot give up its claim", "err", err)
		}
		s.active.Store(false)
	}
}

// startMark suffixes the name of the cursor that marks a stream as begun
// (1), so that a stream that began on an empty trail, at position 0, is
// not taken for a new one, which begins at the head.
const startMark = "#begun"

// backoffMark and retryMark suffix the names of the cursors that keep a
// failing stream's backoff (ms) and when it may send next (Unix ms), 0
// once it sends again: whoever sends the stream next, after a stop or on
// another replica, goes on from there instead of at MinBackoff, which
// would retry a sink that is down far more often than the backoff means.
const (
	backoffMark = "#backoff"
	retryMark   = "#retry-at"
)

// storedBackoff returns the backoff the stream's last sender stored, and
// when it may send next; ok is false when none is stored (or it cannot be
// read: the stream then starts at MinBackoff, as before).
func (s *stream) storedBackoff(ctx context.Context) (backoff time.Duration, next time.Time, ok bool) {
	name := s.sink.Name()
	ms, err := s.l.st.AuditCursor(ctx, name+backoffMark)
	if err == nil && ms > 0 {
		var at int64
		if at, err = s.l.st.AuditCursor(ctx, name+retryMark); err == nil {
			b := min(max(time.Duration(ms)*time.Millisecond, s.o.MinBackoff), s.o.MaxBackoff)
			return b, time.UnixMilli(at), true
		}
	}
	if err != nil && ctx.Err() == nil {
		s.log().Warn("audit stream cannot read its backoff", "err", err)
	}
	return 0, time.Time{}, false
}

// storeBackoff stores the stream's backoff and when it may send next
// (rounded up to the millisecond: never early), or clears them (0).
func (s *stream) storeBackoff(ctx context.Context, backoff time.Duration, next time.Time) {
	name := s.sink.Name()
	var at int64
	if !next.IsZero() {
		at = (next.UnixMicro() + 999) / 1000
	}
	err := s.l.st.PutAuditCursor(ctx, name+retryMark, at)
	if err == nil {
		err = s.l.st.PutAuditCursor(ctx, name+backoffMark, (backoff.Microseconds()+999)/1000)
	}
	if err != nil && ctx.Err() == nil {
		s.log().Warn("audit stream cannot store its backoff", "err", err)
	}
}

func (s *stream) log() *slog.Logger { return s.l.log.With("sink", s.sink.Name()) }

func (s *stream) run(ctx context.Context) {
	st := s.l.st
	name := s.sink.Name()
	backoff := s.o.MinBackoff
	// batch is how many records one Send carries: s.o.Batch, or fewer
	// while the sink refuses that many as too large, or times out on them.
	batch := s.o.Batch
	wait := func(d time.Duration) bool {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		}
	}
	// storeWait is the wait after a failure of the store: it doubles
	// with each one of an outage, up to maxStoreWait, so that an outage
	// is not tried (nor logged) at the sink's first backoff throughout.
	storeWait := s.o.MinBackoff
	maxStoreWait := min(s.o.MaxBackoff, maxStoreBackoff)
	// failed notes a failure of the store (not of the sink) and waits.
	// An outage is logged once, as an error, at its first failure; the
	// tries after it only at the debug level.
	failed := func(what string, err error) bool {
		if ctx.Err() != nil {
			return false
		}
		if s.storeDown.Swap(true) {
			s.log().Debug("audit stream still cannot "+what, "err", err)
		} else {
			s.log().Error("audit stream cannot "+what, "err", err)
		}
		// Shown in the stats without the store's words (they may name a
		// host or a user).
		s.mu.Lock()
		s.lastErr = "cannot " + what + ": the store did not answer"
		s.mu.Unlock()
		d := storeWait
		storeWait = min(2*storeWait, maxStoreWait)
		return wait(d)
	}
	// storeUp notes that the store answered: the end of an outage, if
	// there was one.
	storeUp := func() {
		if s.storeDown.Swap(false) {
			s.log().Info("audit stream reaches the store again")
		}
		storeWait = s.o.MinBackoff
	}
	poll := time.NewTicker(s.l.poll)
	defer poll.Stop()
	// backOff waits d after a failed Send, renewing the claim each poll. A
	// stream that backs off has a sender: were its claim to run out (the
	// backoff grows past the lease), another replica would take it over
	// and start again at MinBackoff, retrying the sink far more often than
	// the backoff means to. It ends early if the claim was lost (the store
	// was out of reach for a whole lease); the next claim says who sends.
	backOff := func(d time.Duration) bool {
		t := time.NewTimer(d)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return false
			case <-t.C:
				return true
			case <-poll.C:
				// An error is not noted here: the next claim, after the
				// wait, notes it if it lasts.
				now := s.l.now()
				if held, _, _, err := st.ClaimAuditCursor(ctx, name, s.owner, now, now.Add(s.o.Lease), 0); err == nil && !held {
					return true
				}
			}
		}
	}
	started := false
	// holding: the claim was held on the last round; kept: a backoff is
	// stored (storeBackoff), to clear once the sink takes records again.
	holding, kept := false, false
	// seen is the end of another replica's claim as last read, and since
	// when (by this process's steady clock) it has read so.
	var (
		seen      int64
		seenSince time.Time
	)
	for {
		changed := s.l.changedCh()
		// One sender per stream across replicas: claim (or renew) first.
		now := s.l.now()
		// A claim whose end has not moved for a whole lease is not being
		// renewed: taken over even if that end is still ahead of now, as
		// it is when written by a replica whose clock ran ahead (which
		// would otherwise hold the stream for as long as its clock was
		// ahead after it stopped).
		var stale int64
		if seen != 0 && time.Since(seenSince) >= s.o.Lease {
			stale = seen
		}
		held, cur, lease, err := st.ClaimAuditCursor(ctx, name, s.owner, now, now.Add(s.o.Lease), stale)
		if err != nil {
			if !failed("claim its stream", err) {
				return
			}
			continue
		}
		s.active.Store(held)
		if held {
			seen = 0
		} else if lease != seen {
			seen, seenSince = lease, time.Now()
		}
		if !held {
			storeUp()
			holding = false
			// Another replica sends it: whether it fails is its to say
			// (a failing flag left from before would never clear here).
			s.failing.Store(false)
			// Another replica sends it: show where it stands, so that
			// the lag read here is the stream's, not a stale one.
			s.cursor.Store(cur)
			select {
			case <-ctx.Done():
				return
			case <-poll.C:
			}
			continue
		}
		if !started && cur == 0 && !s.o.FromStart {
			// A new stream starts at the head (as it was when Stream was
			// called). Position 0 is also where a stream stands that
			// began on an empty trail and has delivered nothing yet: its
			// start mark tells it apart, and it goes on from the start.
			begun, err := st.AuditCursor(ctx, name+startMark)
			if err == nil && begun == 0 {
				h := store.AuditHead{Seq: s.startAt}
				if s.startAt < 0 {
					h, err = st.AuditHead(ctx)
				}
				if err == nil && h.Seq > 0 {
					err = st.SetAuditCursor(ctx, name, h.Seq)
					cur = h.Seq
				}
			}
			if err == nil && begun == 0 {
				err = st.SetAuditCursor(ctx, name+startMark, 1)
			}
			if err != nil {
				if !failed("store its position", err) {
					return
				}
				continue
			}
		}
		started = true
		// Shown from now on, also while a stored backoff is waited out
		// below: until then the stats held 0, the whole trail as lag.
		s.cursor.Store(cur)
		if !holding {
			// Just taken (or started): a backoff the last sender stored
			// goes on here.
			holding = true
			if b, next, ok := s.storedBackoff(ctx); ok {
				backoff, kept = b, true
				// Never longer than the backoff: next is by the wall
				// clock of whoever stored it, which may run ahead of
				// this one (another replica, or this machine before
				// its clock stepped back) by any amount.
				if d := min(next.Sub(s.l.now()), b); d > 0 {
					s.failing.Store(true)
					// Failing, and saying why: the failure itself was
					// seen by the last sender (the stored backoff
					// keeps no words), this replica's own is kept.
					s.mu.Lock()
					if s.lastErr == "" {
						s.lastErr = "the stream's last delivery failed (before this replica took it over, or before a restart); waiting out its backoff"
					}
					s.mu.Unlock()
					if !backOff(d) {
						return
					}
					continue
				}
			}
		}
		recs, err := st.AuditRecords(ctx, store.AuditFilter{After: cur, Limit: batch})
		if err != nil {
			if !failed("read the trail", err) {
				return
			}
			continue
		}
		storeUp()
		if len(recs) > 0 {
			entries := make([]Entry, 0, len(recs))
			for _, r := range recs {
				entries = append(entries, toEntry(r))
			}
			sctx, cancel := context.WithTimeout(ctx, s.o.SendTimeout)
			err := s.sink.Send(sctx, entries)
			cancel()
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				s.failures.Add(1)
				s.failing.Store(true)
				s.mu.Lock()
				s.lastErr = err.Error()
				s.mu.Unlock()
				if (errors.Is(err, ErrBatchTooLarge) || errors.Is(err, ErrBatchRefused)) && len(recs) > 1 {
					// Retried as is, it would be refused for ever, and
					// the stream would stop at it (or, refused for one
					// record, before the records ahead of it).
					batch = len(recs) / 2
					s.log().Warn("audit sink refused a batch; sending smaller ones", "err", err, "records", batch)
					continue
				}
				if timedOut(err) && len(recs) > 1 {
					// A batch the sink cannot take in time (a slow receiver
					// or link) would time out for ever, resent whole. It may
					// have arrived: its records are sent again, in halves.
					// After the backoff, unlike a 413: a timeout may also
					// mean an overloaded sink.
					batch = len(recs) / 2
					s.log().Warn("audit sink timed out; retrying with smaller batches", "err", err, "backoff", backoff, "records", batch)
				} else {
					s.log().Warn("audit sink failed; retrying", "err", err, "backoff", backoff)
				}
				next := min(2*backoff, s.o.MaxBackoff)
				d := jitter(backoff)
				if ra := (*RetryAfterError)(nil); errors.As(err, &ra) && ra.After > d {
					// The receiver said when it will take more: not
					// before, nor past the longest backoff.
					d = max(min(ra.After, s.o.MaxBackoff), d)
				}
				s.storeBackoff(ctx, next, s.l.now().Add(d))
				kept = true
				if !backOff(d) {
					return
				}
				backoff = next
				continue
			}
			backoff = s.o.MinBackoff
			if kept {
				s.storeBackoff(ctx, 0, time.Time{})
				kept = false
			}
			s.failing.Store(false)
			s.lastSent.Store(s.l.now().UnixMicro())
			last := recs[len(recs)-1].Seq
			s.sent.Add(int64(len(recs)))
			if err := st.SetAuditCursor(ctx, name, last); err != nil && ctx.Err() == nil {
				// Delivered anyway: they are sent again after a restart.
				s.log().Error("audit stream cannot store its position", "err", err)
			}
			s.cursor.Store(last)
			if len(recs) == batch {
				continue
			}
		}
		batch = s.o.Batch // caught up
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-poll.C:
		}
	}
}

// maxStoreBackoff bounds the wait between tries to reach a store that
// does not answer: shorter than a sink's longest backoff, since nothing
// is delivered until it answers again.
const maxStoreBackoff = 30 * time.Second

// jitter returns the wait after a failed Send whose backoff is d: d and up
// to a fifth more, at random. Streams that fail together (every stream to
// a receiver that goes down) would otherwise retry together at each
// doubling, and all at once when it is back; never less than d, so the
// backoff stays a floor.
func jitter(d time.Duration) time.Duration {
	if d < 5 {
		return d
	}
	return d + mrand.N(d/5)
}

// timedOut reports whether a Send failed for a timeout: the sink's own (a
// webhook client's) or SendTimeout. A refused connection or an error
// answer is not one, nor a connection that could not be made in time (a
// receiver down or unreachable): smaller batches would not help it, and
// would leave the stream to catch up on its backlog a record at a time
// once the receiver is back.
func timedOut(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return false
	}
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// Head returns the chain head: the last record's seq and hash.
func (l *Log) Head(ctx context.Context) (int64, string, error) {
	h, err := l.st.AuditHead(ctx)
	if err != nil {
		return 0, "", fmt.Errorf("audit head: %w", err)
	}
	return h.Seq, h.Hash, nil
}

// holdForStreams returns the cut Prune may use instead of before so that
// no record a stream of this Log has not delivered is deleted, and notes
// in each stream how many records older than before it holds back.
func (l *Log) holdForStreams(ctx context.Context, before time.Time) (time.Time, error) {
	l.holdMu.Lock()
	holds := slices.Clone(l.holds)
	l.holdMu.Unlock()
	if len(holds) == 0 {
		return before, nil
	}
	// Each sink's delivered position, read from the store: whichever
	// replica sends it, and positions only move forward, so a position
	// read now is at most behind the truth (pruning then keeps more).
	delivered := make(map[string]int64, len(holds))
	for _, s := range holds {
		name := s.sink.Name()
		if _, ok := delivered[name]; ok {
			continue
		}
		cur, err := l.st.AuditCursor(ctx, name)
		if err != nil {
			return before, err
		}
		if cur == 0 && !s.o.FromStart && s.startAt > 0 {
			// Not started yet: it starts after startAt and will never
			// send what lies at or before it, unless it began before, on
			// an empty trail (its start mark), and goes on from the start.
			begun, err := l.st.AuditCursor(ctx, name+startMark)
			if err != nil {
				return before, err
			}
			if begun == 0 {
				cur = s.startAt
			} else if cur, err = l.st.AuditCursor(ctx, name); err != nil {
				// Begun meanwhile: the stream stores its position before
				// its start mark, so the position read after the mark is
				// the one it began at (0 only for a stream that began on
				// an empty trail). Read before, it was the 0 of a stream
				// not begun, which would hold back everything.
				return before, err
			}
		}
		delivered[name] = cur
	}
	lowest := int64(-1)
	for _, cur := range delivered {
		if lowest < 0 || cur < lowest {
			lowest = cur
		}
	}
	// The store prunes the longest prefix of records older than the cut:
	// the first undelivered record's own time stops it just before that
	// record (or earlier, when records share its time).
	next, err := l.st.AuditRecords(ctx, store.AuditFilter{After: lowest, Limit: 1})
	if err != nil {
		return before, err
	}
	cut := before
	if len(next) > 0 && next[0].Time.Before(before) {
		cut = next[0].Time
	}

	// How many records each stream holds back: those in the prefix that
	// before alone would prune, after the stream's position.
	var first, last int64
	if cut.Before(before) {
		recs, err := l.st.AuditRecords(ctx, store.AuditFilter{Limit: 1})
		if err != nil {
			return before, err
		}
		if len(recs) > 0 {
			first = recs[0].Seq
		}
		if recs, err = l.st.AuditRecords(ctx, store.AuditFilter{Since: before, Limit: 1}); err != nil {
			return before, err
		}
		if len(recs) > 0 {
			last = recs[0].Seq - 1
		} else {
			h, err := l.st.AuditHead(ctx)
			if err != nil {
				return before, err
			}
			last = h.Seq
		}
	}
	logged := map[string]bool{}
	for _, s := range holds {
		name := s.sink.Name()
		var held int64
		if first > 0 {
			held = max(0, last-max(delivered[name], first-1))
		}
		s.heldBack.Store(held)
		if held > 0 && !logged[name] {
			logged[name] = true
			l.log.Warn("audit retention held back: a stream has not delivered records older than the retention; they are kept until it does",
				"sink", name, "records", held, "delivered_through", delivered[name])
		}
	}
	return cut, nil
}
