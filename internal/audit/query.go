package audit

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// Filter selects records. Empty fields match everything.
type Filter struct {
	// After is the pagination cursor: only records with a greater seq.
	After int64
	// Upto, when > 0, bounds a paging to the trail as it stood when it
	// began: only records with a seq no greater. Each page of the admin
	// API is itself recorded (audit.read), so without a bound a paging
	// through everything, a record a page, would never reach its end.
	Upto        int64
	Types       []string // event types, any of
	Actor       string   // the person
	Agent       string   // the client ID acting
	Tool        string
	Decision    string // allow | deny
	Correlation string // one tool call's (or login's) events
	Session     string // one login session's events
	Since       time.Time
	Until       time.Time // exclusive
	// Limit caps a page; 0 means 100, and at most 1000 are returned.
	Limit int
}

func (f Filter) store() store.AuditFilter {
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	types := make([]string, len(f.Types))
	for i, t := range f.Types {
		types[i] = indexValue(t)
	}
	if len(types) == 0 {
		types = nil
	}
	var before int64
	if f.Upto > 0 && f.Upto < math.MaxInt64 {
		before = f.Upto + 1
	}
	return store.AuditFilter{After: f.After, Before: before, Types: types, Actor: indexValue(f.Actor), Agent: indexValue(f.Agent),
		Tool: indexValue(f.Tool), Decision: indexValue(f.Decision), Correlation: indexValue(f.Correlation),
		Session: indexValue(f.Session), Since: f.Since, Until: f.Until, Limit: min(limit, 1000)}
}

// whole reports whether e has, whole, each value f asks for: the store
// compared index columns, which keep a value's first maxIndexBytes, so a
// record whose value is longer and starts with the one asked for (another
// person's or agent's: a client ID metadata document's URL runs to 2,000
// bytes) came too, whether the value asked for is itself cut or just
// short of the cut.
func (f Filter) whole(e Event) bool {
	same := func(want, got string) bool {
		return want == "" || wholeValue(got) == wholeValue(want)
	}
	if !(same(f.Actor, e.Actor) && same(f.Agent, e.Agent) && same(f.Tool, e.Tool) && same(f.Decision, e.Decision) &&
		same(f.Correlation, e.Correlation) && same(f.Session, e.Session)) {
		return false
	}
	if len(f.Types) > 0 {
		return slices.ContainsFunc(f.Types, func(t string) bool { return wholeValue(t) == wholeValue(e.Type) })
	}
	return true
}

// Page is one page of a query.
type Page struct {
	Entries []Entry `json:"entries"`
	// Next is the After of the following page; 0 when there is none. A
	// page may hold fewer entries than its limit and still have a next.
	Next int64 `json:"next,omitempty"`
}

// Query returns the records that match f, oldest first, one page.
func (l *Log) Query(ctx context.Context, f Filter) (Page, error) {
	sf := f.store()
	recs, err := l.st.AuditRecords(ctx, sf)
	if err != nil {
		return Page{}, err
	}
	p := Page{Entries: make([]Entry, 0, len(recs))}
	for _, r := range recs {
		if e := toEntry(r); f.whole(e.Event) {
			p.Entries = append(p.Entries, e)
		}
	}
	if last := len(recs) - 1; last+1 == sf.Limit && (f.Upto == 0 || recs[last].Seq < f.Upto) {
		p.Next = recs[last].Seq
	}
	return p, nil
}

// Export writes every record that matches f (from f.After on, whatever
// f.Limit) to w as JSON lines, each an Entry as MarshalJSON writes it. It
// returns how many it wrote. Unless f.Upto says otherwise, it is the
// trail as it stood when the export began: records written meanwhile are
// left to the next export (from the last seq written), so that one on a
// busy server ends, and is a snapshot.
func (l *Log) Export(ctx context.Context, w io.Writer, f Filter) (int64, error) {
	if f.Upto <= 0 {
		head, _, err := l.Head(ctx)
		if err != nil {
			return 0, err
		}
		if head == 0 {
			return 0, nil // nothing written yet
		}
		f.Upto = head
	}
	bw := bufio.NewWriter(w)
	f.Limit = 1000
	var n int64
	for {
		p, err := l.Query(ctx, f)
		if err != nil {
			bw.Flush() // what was exported stays whole
			return n, err
		}
		for _, e := range p.Entries {
			b, err := json.Marshal(e)
			if err != nil {
				bw.Flush()
				return n, fmt.Errorf("export audit record %d: %w", e.Seq, err)
			}
			bw.Write(b)
			if err := bw.WriteByte('\n'); err != nil {
				return n, fmt.Errorf("export audit: %w", err)
			}
			n++
		}
		if p.Next == 0 {
			return n, bw.Flush()
		}
		f.After = p.Next
	}
}

// Tail calls fn with the last n records that match f (n ≤ 0: none; fewer
// when f names a value longer than an index keeps, see Filter.whole), oldest
// first, then, when follow is true, with every new matching record as it
// is committed, until ctx ends (returning nil) or fn returns an error
// (returned as is). Records from other replicas are seen within
// PollInterval.
func (l *Log) Tail(ctx context.Context, f Filter, n int, follow bool, fn func(Entry) error) error {
	sf := f.store()
	head, err := l.st.AuditHead(ctx)
	if err != nil {
		return err
	}
	cursor := max(head.Seq, f.After)
	if n > 0 {
		last := sf
		last.Desc, last.Before, last.Limit = true, cursor+1, min(n, 1000)
		recs, err := l.st.AuditRecords(ctx, last)
		if err != nil {
			return err
		}
		slices.Reverse(recs)
		for _, r := range recs {
			if err := emit(f, r, fn); err != nil {
				return err
			}
		}
	}
	if !follow {
		return nil
	}
	t := time.NewTicker(l.poll)
	defer t.Stop()
	for {
		changed := l.changedCh()
		sf.After = cursor
		sf.Limit = 1000
		recs, err := l.st.AuditRecords(ctx, sf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		for _, r := range recs {
			if err := emit(f, r, fn); err != nil {
				return err
			}
			cursor = r.Seq
		}
		if len(recs) == sf.Limit {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		case <-t.C:
		}
	}
}

// emit calls fn with r when it matches f whole.
func emit(f Filter, r store.AuditRecord, fn func(Entry) error) error {
	if e := toEntry(r); f.whole(e.Event) {
		return fn(e)
	}
	return nil
}

// Prune deletes the oldest records, all older than before. It first
// stores a signed checkpoint of the last record to go (the kept part then
// verifies from it), then deletes in short transactions so that Record is
// not held up, then records an AuditPruned event. It returns how many
// records were deleted.
//
// It never deletes a record that a stream started on this Log (see
// Stream) has not delivered yet: pruning stops before the first record
// after the lowest stored position of those streams, however old. What a
// stream holds back this way is counted in its SinkStats.HeldBack and
// logged as a warning, once per call, so a sink that fails for longer than
// the retention shows as retention held up, never as records lost. Only
// the streams of this Log count: a stream removed from the configuration
// (its position is still in the store) no longer holds pruning back, and
// replicas sharing a database should run the same streams.
func (l *Log) Prune(ctx context.Context, before time.Time) (int64, error) {
	if l.keys == nil {
		return 0, ErrNoKeys
	}
	before, err := l.holdForStreams(ctx, before)
	if err != nil {
		return 0, fmt.Errorf("prune audit: %w", err)
	}
	// The pruning checkpoint vouches for the chain it cuts: only a chain
	// that verifies is cut, or pruning would sign over a tampering (a
	// record's time moved back to have it pruned, with its evidence). The
	// walk also notes the record the cut must end at.
	cut := &pruneCut{before: before}
	rep, err := l.verifyFor(ctx, nil, cut)
	if err != nil {
		return 0, fmt.Errorf("prune audit: nothing pruned: %w", err)
	}
	// Records a pruning cut short left at or before the last pruning
	// checkpoint (Report.Leftovers) go too: the one verified (by its
	// signature), not whatever row of the store calls itself a pruning
	// checkpoint.
	var resume int64
	if rep.Anchor != nil {
		resume = rep.Anchor.Seq
	}
	through := resume // when only a crash's leftovers go
	n, err := l.st.PruneAudit(ctx, before, resume, func(last store.AuditRecord) (store.AuditCheckpoint, error) {
		// What is cut is chosen by the stored times, which an attacker at
		// the database could move back after the walk above, re-hashing
		// the record the cut then ends at (and the head) to match: the
		// cut must end at the record the walk verified as the last one
		// older than before, with the hash the walk saw, and that record
		// must still hash to it with its stored time (so its time is the
		// one written). The records before it are older still.
		if last.Seq != cut.last.Seq || last.Hash != cut.last.Hash {
			return store.AuditCheckpoint{}, fmt.Errorf("%w: record %d is not the one verified as the last to prune: nothing pruned", ErrChainBroken, last.Seq)
		}
		if chainHash(last.Prev, last.Seq, last.Time.UnixMicro(), last.Event) != last.Hash || !last.Time.Before(before) {
			return store.AuditCheckpoint{}, fmt.Errorf("%w: record %d does not hash to its stored hash: nothing pruned", ErrChainBroken, last.Seq)
		}
		c := Checkpoint{Seq: last.Seq, Hash: last.Hash, Time: time.UnixMicro(l.now().UnixMicro()).UTC(), Kind: KindPrune}
		jws, err := l.sign(c, nil)
		if err != nil {
			return store.AuditCheckpoint{}, err
		}
		c.JWS = jws
		through = last.Seq
		return toStoreCheckpoint(c), nil
	})
	if err != nil {
		return 0, fmt.Errorf("prune audit: %w", err)
	}
	if n == 0 {
		return 0, nil
	}
	err = l.Record(ctx, Event{Type: AuditPruned, Detail: map[string]any{
		"through_seq": through, "records": n, "before": before.UTC().Format(time.RFC3339)}})
	return n, err
}
