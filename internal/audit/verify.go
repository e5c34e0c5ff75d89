package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// ErrChainBroken is returned (wrapped, naming the first broken record) by
// Verify when the trail was tampered with.
var ErrChainBroken = errors.New("audit chain broken")

// Problem kinds: how a record broke the chain.
const (
	// ProblemMissing: records are absent from the middle or the start.
	ProblemMissing = "missing"
	// ProblemEdited: the record does not hash to its stored hash, or it
	// does but the next record, which links on to a batch's signature,
	// names another hash for it (changed, its hash rewritten to match).
	ProblemEdited = "edited"
	// ProblemReordered: the record hashes as if it sat at another seq.
	ProblemReordered = "reordered"
	// ProblemUnlinked: the record's prev is not the previous record's hash
	// (inserted or replaced behind the writer's back).
	ProblemUnlinked = "unlinked"
	// ProblemSignature: a batch signature is invalid or does not state
	// the record it is on.
	ProblemSignature = "signature"
	// ProblemUnsigned: records after the last signature (appended behind
	// the writer's back, even when they link).
	ProblemUnsigned = "unsigned"
	// ProblemTruncated: a checkpoint or the head names a record past the
	// end of the log.
	ProblemTruncated = "truncated"
	// ProblemCheckpoint: a checkpoint is invalid or names another hash for
	// a record than the one stored.
	ProblemCheckpoint = "checkpoint"
	// ProblemPruned: a record stands in the part of the log a prune
	// checkpoint says was cut, and is not a record of the chain that a
	// pruning has yet to delete (see Report.Leftovers): added behind the
	// writer's back. Queries and exports would show it.
	ProblemPruned = "pruned"
	// ProblemIndex: the record's query columns (type, person, agent, tool,
	// decision, correlation, session) are not its event's, so filters
	// would hide or misattribute it.
	ProblemIndex = "index"
)

// Problem is one break found by Verify.
type Problem struct {
	Seq    int64  `json:"seq"` // the first record concerned
	Kind   string `json:"kind"`
	Detail string `json:"detail"`
}

// Report is what Verify found.
type Report struct {
	OK      bool  `json:"ok"`
	First   int64 `json:"first"`   // first seq walked (0 for an empty log)
	Last    int64 `json:"last"`    // last seq walked
	Records int64 `json:"records"` // records walked
	// Anchor is the pruning checkpoint the kept chain starts after, if any.
	Anchor *Checkpoint `json:"anchor,omitempty"`
	// Leftovers counts the records at or before the Anchor that a pruning
	// has not deleted yet (it is running, or was cut short and the next
	// one finishes it): records of the chain, each linking to the next up
	// to the Anchor's hash, so no problem.
	Leftovers int64 `json:"leftovers,omitempty"`
	// SignaturesChecked is false when the Log has no Keys: checkpoints were
	// then read but not verified.
	SignaturesChecked bool `json:"signatures_checked"`
	Signatures        int  `json:"signatures"`   // batch signatures verified
	Checkpoints       int  `json:"checkpoints"`  // checkpoints matched against the chain
	Unverifiable      int  `json:"unverifiable"` // signatures by keys this store does not know
	// WithdrawnKeys names each withdrawn key (keys rotate --now: a leaked
	// one) that signatures and checkpoints verified above rest on. What
	// such a key signed after its withdrawal is refused (a problem), but
	// whoever holds it can date a signature before: these are only as
	// good as the key was kept until then.
	WithdrawnKeys []WithdrawnKey `json:"withdrawn_keys,omitempty"`
	// Problems lists every break, at most 100: by seq the chain's and
	// signatures', then those of checkpoints that do not verify, then
	// the query columns', so that the first is the most serious.
	Problems []Problem `json:"problems,omitempty"`
}

// WithdrawnKey is a withdrawn key and what rests on it, in a Report.
type WithdrawnKey struct {
	Kid       string    `json:"kid"`
	Withdrawn time.Time `json:"withdrawn"` // when it stopped signing
	// Signatures and Checkpoints count the batch signatures and the
	// checkpoints by it that verified: stating a time before its
	// withdrawal, on records before any signed as of then.
	Signatures  int `json:"signatures"`
	Checkpoints int `json:"checkpoints"`
	// First and Last are the first and last records they are on.
	First int64 `json:"first"`
	Last  int64 `json:"last"`
}

// VerifyOptions tune Verify. nil means none.
type VerifyOptions struct {
	// Checkpoints are extra checkpoints to hold the log to, such as a copy
	// read back with ParseCheckpoints: a record they cover that is gone is
	// reported even when its stored checkpoints were deleted too.
	Checkpoints []Checkpoint
}

const maxProblems = 100

// pageSize is how many records Verify reads at a time.
const pageSize = 1000

// reorderWindow is how far from its position Verify looks for the seq a
// record was written as, to tell a move from an edit.
const reorderWindow = 1000

// Verify walks the whole chain and checks that every record hashes to its
// hash and links to the one before, that the batch signatures and the
// checkpoints (stored and given) match it, and that nothing follows the
// last signature or is missing before a checkpoint. It returns an error
// wrapping ErrChainBroken, naming the first broken seq, when it found a
// problem, and another error when it could not read the log.
func (l *Log) Verify(ctx context.Context, opts *VerifyOptions) (Report, error) {
	return l.verifyFor(ctx, opts, nil)
}

// pruneCut asks a verification walk, for Prune, which record a pruning of
// the records older than before would end at.
type pruneCut struct {
	before time.Time
	// last is, as the walk read it, the record before the first one not
	// older than before; its Seq is 0 when there is none.
	last store.AuditRecord
}

// verifyFor is Verify, filling cut (when not nil) from its walk.
func (l *Log) verifyFor(ctx context.Context, opts *VerifyOptions, cut *pruneCut) (Report, error) {
	// A pruning running meanwhile moves the chain's start and deletes what
	// the walk expected to find: when the pruning anchor moved during a
	// walk that found a break, the walk is done again.
	for try := 0; ; try++ {
		anchorBefore, err := l.pruneAnchor(ctx)
		if err != nil {
			return Report{}, err
		}
		rep, err := l.verify(ctx, opts, cut)
		if !errors.Is(err, ErrChainBroken) || try == 2 {
			return rep, err
		}
		if after, aerr := l.pruneAnchor(ctx); aerr != nil || after == anchorBefore {
			return rep, err
		}
	}
}

// pruneAnchor returns the ID of the newest stored pruning checkpoint, 0
// when there is none.
func (l *Log) pruneAnchor(ctx context.Context) (int64, error) {
	cps, err := l.Checkpoints(ctx)
	if err != nil {
		return 0, err
	}
	var id int64
	for _, c := range cps {
		if c.Kind == KindPrune {
			id = max(id, c.ID)
		}
	}
	return id, nil
}

func (l *Log) verify(ctx context.Context, opts *VerifyOptions, cut *pruneCut) (Report, error) {
	rep := Report{SignaturesChecked: l.keys != nil}
	cutting := cut != nil
	if cutting {
		cut.last = store.AuditRecord{}
	}
	problem := func(seq int64, kind, format string, args ...any) {
		if len(rep.Problems) < maxProblems {
			rep.Problems = append(rep.Problems, Problem{Seq: seq, Kind: kind, Detail: fmt.Sprintf(format, args...)})
		}
	}
	// A checkpoint that does not verify names a record its unsigned row
	// chose: such findings are kept apart (their own bound) and listed
	// after the records' own, so that rows of junk can neither crowd out
	// nor stand before the record that broke.
	var rowProblems []Problem
	rowProblem := func(seq int64, format string, args ...any) {
		if len(rowProblems) < maxProblems {
			rowProblems = append(rowProblems, Problem{Seq: seq, Kind: ProblemCheckpoint, Detail: fmt.Sprintf(format, args...)})
		}
	}
	// A record's query columns are not covered by the chain: edited ones
	// mislead filters but break nothing, so they too are kept apart and
	// listed last, or a hundred of them would crowd out a chain or
	// signature that broke after them.
	var indexProblems []Problem
	indexProblem := func(seq int64, col string) {
		if len(indexProblems) < maxProblems {
			indexProblems = append(indexProblems, Problem{Seq: seq, Kind: ProblemIndex, Detail: fmt.Sprintf("record %d: its %s column is not its event's", seq, col)})
		}
	}

	// What rests on withdrawn keys, by kid, in the order met.
	var withdrawnKids []string
	onWithdrawn := map[string]*WithdrawnKey{}
	restsOn := func(kid string, at time.Time, seq int64, checkpoint bool) {
		w := onWithdrawn[kid]
		if w == nil {
			w = &WithdrawnKey{Kid: kid, Withdrawn: at.UTC(), First: seq}
			onWithdrawn[kid] = w
			withdrawnKids = append(withdrawnKids, kid)
		}
		if checkpoint {
			w.Checkpoints++
		} else {
			w.Signatures++
		}
		w.First, w.Last = min(w.First, seq), max(w.Last, seq)
	}
	// latest is the latest time a batch signature walked so far states:
	// a record after it was signed after it, whatever its own signature
	// states, and a withdrawn key signs nothing past its withdrawal.
	var latest time.Time

	// Checkpoints, stored and given, each opened from its signature.
	stored, err := l.Checkpoints(ctx)
	if err != nil {
		return rep, err
	}
	all := stored
	if opts != nil {
		all = append(all[:len(all):len(all)], opts.Checkpoints...)
	}
	var cps []Checkpoint
	for i, c := range all {
		got, err := openCheckpoint(l.keys, c.JWS)
		if errors.Is(err, errUnknownKey) && i >= len(stored) {
			// A copy kept off the box is what proves a cut made together
			// with the stored checkpoints: one this store cannot check is
			// a finding, not a detail (the store, keys and all, replaced).
			rowProblem(c.Seq, "off-box checkpoint of record %d is %v", c.Seq, err)
			continue
		}
		if errors.Is(err, errUnknownKey) {
			rep.Unverifiable++
			continue
		}
		if err != nil {
			rowProblem(c.Seq, "checkpoint %d does not verify: %v", c.ID, err)
			continue
		}
		got.ID = c.ID
		cps = append(cps, got)
	}
	var anchor *Checkpoint
	for i, c := range cps {
		if c.Kind == KindPrune && (anchor == nil || c.Seq > anchor.Seq) {
			anchor = &cps[i]
		}
	}
	bySeq := map[int64][]Checkpoint{}
	for _, c := range cps {
		bySeq[c.Seq] = append(bySeq[c.Seq], c)
	}

	// The head, before the walk: records appended while it runs are
	// after it and not judged, so a busy log does not look truncated.
	head, err := l.st.AuditHead(ctx)
	if err != nil {
		return rep, err
	}

	// The walk.
	expect, prev := int64(1), Genesis
	if anchor != nil {
		rep.Anchor = anchor
		expect, prev = anchor.Seq+1, anchor.Hash
		stray, err := l.leftovers(ctx, *anchor, func(r store.AuditRecord) {
			rep.Leftovers++
			// Queries show a leftover until it is deleted: it too must be
			// found under its own event's values.
			if col := wrongIndex(r); col != "" {
				indexProblem(r.Seq, col)
			}
		})
		if err != nil {
			return rep, err
		}
		if stray != nil {
			problem(stray.Seq, ProblemPruned, "record %d stands in the part pruned up to record %d", stray.Seq, anchor.Seq)
		}
	}
	lastSigned := expect - 1
	// vouched is the last record a writer's signature covers as the end
	// of its batch (or the chain's start): the next batch must have been
	// appended onto it.
	vouched := expect - 1
	var last store.AuditRecord
	walked := false
	var below struct {
		n           int
		first, last int64
	}
	flushBelow := func() {
		switch {
		case below.n == 1:
			problem(below.first, ProblemUnsigned, "record %d stands before record %d, where the chain starts", below.first, expect)
		case below.n > 1:
			problem(below.first, ProblemUnsigned, "%d records, %d to %d, stand before record %d, where the chain starts",
				below.n, below.first, below.last, expect)
		}
		below.n = 0
	}
	// A record that does not link to the one before it, in the middle of
	// a batch (the one before carries no signature): either was changed
	// with its hash written to match. Which one, the records after tell:
	// when they link on from it to a batch's signature, it is as written
	// and the one before is not. Until then it is held here (0: none).
	var unlinked int64
	flushUnlinked := func() {
		if unlinked != 0 {
			problem(unlinked, ProblemUnlinked, "record %d does not link to record %d", unlinked, unlinked-1)
			unlinked = 0
		}
	}
	for cursor, done := expect-1, false; !done; {
		var page []store.AuditRecord
		page, cursor, done, err = l.walkPage(ctx, cursor, head.Seq)
		if err != nil {
			return rep, err
		}
		for _, r := range page {
			if r.Seq < expect {
				// Only on the first page, when the chain starts at 1: a
				// record at 0 or below, where no writer puts one. Told as
				// one problem however many: planted by the hundred, they
				// would fill the report and crowd out the record that was
				// edited.
				if below.n == 0 {
					below.first = r.Seq
				}
				below.n, below.last = below.n+1, r.Seq
				continue
			}
			flushBelow()
			if !walked {
				rep.First = r.Seq
				walked = true
			}
			rep.Records++
			if cutting {
				// The store cuts before the first record not older than
				// before, whatever follows it.
				if cutting = r.Time.Before(cut.before); cutting {
					cut.last = r
				}
			}
			linked := true
			if r.Seq != expect {
				flushUnlinked()
				problem(expect, ProblemMissing, "records %d to %d are missing", expect, r.Seq-1)
				linked = false
			}
			micros := r.Time.UnixMicro()
			if h := chainHash(r.Prev, r.Seq, micros, r.Event); h != r.Hash {
				flushUnlinked()
				// The search for the seq it was written as hashes the
				// record up to 2×reorderWindow times: made only while the
				// report has room for what it finds, or a trail whose
				// every record was edited (one UPDATE) would take
				// thousands of times as long to walk as an intact one.
				if len(rep.Problems) < maxProblems {
					if at := writtenAs(r, micros); at != 0 {
						problem(r.Seq, ProblemReordered, "record %d was written as record %d", r.Seq, at)
					} else {
						problem(r.Seq, ProblemEdited, "record %d does not hash to its stored hash", r.Seq)
					}
				}
			} else if linked && r.Prev != prev {
				flushUnlinked()
				if vouched == r.Seq-1 {
					// The record before ends a signed batch (or is where
					// the chain starts): it is as written, this one is not.
					problem(r.Seq, ProblemUnlinked, "record %d does not link to record %d", r.Seq, r.Seq-1)
				} else {
					unlinked = r.Seq
				}
			}
			if col := wrongIndex(r); col != "" {
				indexProblem(r.Seq, col)
			}
			if r.Sig != "" {
				c, cl, err := openClaims(l.keys, r.Sig)
				switch {
				case errors.Is(err, errUnknownKey):
					// A key retired long ago. Harmless: the chain links this
					// record to a later signature, and the tail must carry
					// one by a published key.
					rep.Unverifiable++
				case err != nil:
					problem(r.Seq, ProblemSignature, "record %d: signature does not verify: %v", r.Seq, err)
				case c.Seq != r.Seq || c.Hash != r.Hash:
					problem(r.Seq, ProblemSignature, "record %d: signature states record %d with another hash", r.Seq, c.Seq)
				case c.Kind != KindBatch:
					// A checkpoint's signature copied onto a record states
					// no batch, and so nothing it was appended onto.
					problem(r.Seq, ProblemSignature, "record %d: its signature is a %s checkpoint's, not a batch's", r.Seq, c.Kind)
				default:
					kid, at, withdrawn := withdrawal(l.keys, r.Sig)
					if withdrawn && !latest.Before(at.Add(WithdrawalGrace)) {
						problem(r.Seq, ProblemSignature, "record %d: %v: key %s, withdrawn at %s, on a record after one signed as of %s",
							r.Seq, errWithdrawn, kid, at.UTC().Format(time.RFC3339Nano), latest.Format(time.RFC3339Nano))
						break
					}
					if withdrawn {
						restsOn(kid, at, r.Seq, false)
					}
					if t := cl.signedAt(); t.After(latest) {
						latest = t
					}
					rep.Signatures++
					lastSigned = r.Seq
					if unlinked != 0 {
						// The records from the unlinked one on link to this
						// signature: they are as written, and the record
						// before them, whose hash they do not name, is not.
						problem(unlinked-1, ProblemEdited, "record %d is not as written (its hash was rewritten to match): record %d, which links on to the signature on record %d, names another hash for it",
							unlinked-1, unlinked, r.Seq)
						unlinked = 0
					}
					if a := cl.After; a != nil && *a > vouched {
						// Records no writer signed, which a writer then
						// appended onto without knowing.
						problem(vouched+1, ProblemUnsigned, "records %d to %d are covered by no writer's signature: the batch of records %d to %d was appended onto them",
							vouched+1, *a, *a+1, r.Seq)
					}
					vouched = r.Seq
				}
			}
			for _, c := range bySeq[r.Seq] {
				if c.Hash != r.Hash {
					problem(r.Seq, ProblemCheckpoint, "checkpoint %d (%s) names another hash for record %d", c.ID, c.Kind, r.Seq)
					continue
				}
				if kid, at, withdrawn := withdrawal(l.keys, c.JWS); withdrawn {
					if !latest.Before(at.Add(WithdrawalGrace)) {
						problem(r.Seq, ProblemCheckpoint, "checkpoint %d (%s) of record %d: %v: key %s, withdrawn at %s, of a record after one signed as of %s",
							c.ID, c.Kind, r.Seq, errWithdrawn, kid, at.UTC().Format(time.RFC3339Nano), latest.Format(time.RFC3339Nano))
						continue
					}
					restsOn(kid, at, r.Seq, true)
				}
				// A checkpoint proves the record was there (truncation),
				// not that a writer wrote it: only batch signatures cover
				// records, or a signature stripped up to a checkpoint
				// would leave what it covered unchecked.
				rep.Checkpoints++
			}
			prev, expect, last = r.Hash, r.Seq+1, r
		}
	}
	flushBelow()      // when no record stands where the chain starts
	flushUnlinked()   // no signature after it: which record broke is not told
	end := expect - 1 // the last seq the chain reaches (the anchor when empty)
	rep.Last = end
	if l.keys != nil && walked && lastSigned < last.Seq {
		problem(lastSigned+1, ProblemUnsigned, "records %d to %d are covered by no signature", lastSigned+1, last.Seq)
	}
	for _, c := range cps {
		if c.Seq > end {
			problem(end+1, ProblemTruncated, "checkpoint %d (%s) names record %d, the log ends at %d", c.ID, c.Kind, c.Seq, end)
		}
	}
	switch {
	case head.Seq > end:
		problem(end+1, ProblemTruncated, "the head names record %d, the log ends at %d", head.Seq, end)
	case walked && head.Hash != last.Hash:
		problem(end, ProblemUnlinked, "the head names another hash for record %d", end)
	}
	// Records past the head: a record and its head move commit together,
	// so one that is there must be behind the head read after it.
	past, err := l.st.AuditRecords(ctx, store.AuditFilter{After: max(head.Seq, end), Limit: 1})
	if err != nil {
		return rep, err
	}
	if len(past) > 0 {
		now, err := l.st.AuditHead(ctx)
		if err != nil {
			return rep, err
		}
		if past[0].Seq > now.Seq {
			problem(past[0].Seq, ProblemUnsigned, "record %d lies past the head (record %d)", past[0].Seq, now.Seq)
		}
	}

	for _, kid := range withdrawnKids {
		rep.WithdrawnKeys = append(rep.WithdrawnKeys, *onWithdrawn[kid])
	}

	// By record: the chain's and signatures', then the checkpoint rows',
	// then the query columns'.
	rep.Problems = sortProblems(rep.Problems)
	rep.Problems = append(rep.Problems, sortProblems(rowProblems)...)
	rep.Problems = append(rep.Problems, sortProblems(indexProblems)...)
	rep.Problems = rep.Problems[:min(len(rep.Problems), maxProblems)]
	if len(rep.Problems) > 0 {
		p := rep.Problems[0]
		return rep, fmt.Errorf("%w at record %d (%s): %s", ErrChainBroken, p.Seq, p.Kind, p.Detail)
	}
	rep.OK = true
	return rep, nil
}

// walkPage returns the records after cursor up to head, oldest first, at
// most pageSize of them, and the cursor of the next page, or done.
func (l *Log) walkPage(ctx context.Context, cursor, head int64) (page []store.AuditRecord, next int64, done bool, err error) {
	if cursor > 0 {
		page, err := l.st.AuditRecords(ctx, store.AuditFilter{After: cursor, Before: head + 1, Limit: pageSize})
		if err != nil || len(page) < pageSize {
			return page, 0, true, err
		}
		return page, page[len(page)-1].Seq, false, nil
	}
	// A store reads After 0 as "from the start", records at 0 and below
	// included: a page's worth of those, planted there, would fill every
	// page, and the walk would never move on. So records 1 to pageSize are
	// read from the top down, then put back in order, and the next page
	// starts after them. What stands below 1 (nothing of the chain) is
	// read apart, up to a page of it from 0 down, and goes first, to be
	// reported: the read of records 1 to pageSize, full on any trail that
	// long, would not reach it.
	upto := max(min(head, pageSize), 0)
	below, err := l.st.AuditRecords(ctx, store.AuditFilter{Before: 1, Desc: true, Limit: pageSize})
	if err != nil {
		return nil, 0, false, err
	}
	page, err = l.st.AuditRecords(ctx, store.AuditFilter{Before: upto + 1, Desc: true, Limit: pageSize})
	page = slices.DeleteFunc(page, func(r store.AuditRecord) bool { return r.Seq < 1 }) // read apart above
	page = append(page, below...)
	slices.Reverse(page)
	return page, upto, upto >= head, err
}

// leftovers walks what stands at or before a pruning checkpoint, newest
// first, and calls left with each record a pruning has yet to delete; it
// returns the first record there that is not one, or nil.
//
// A pruning stores its checkpoint, then deletes up to it from the oldest
// record on, in steps: one running, or cut short (killed, its context
// ended), leaves the records just before the checkpoint, each linking to
// the next, the last to the checkpoint's hash. Only records of the chain
// do (a record made up to link there would need a SHA-256 preimage), so
// whatever else stands there was put there behind the writer's back.
func (l *Log) leftovers(ctx context.Context, anchor Checkpoint, left func(store.AuditRecord)) (*store.AuditRecord, error) {
	seq, hash := anchor.Seq, anchor.Hash // the record expected next, going down
	for {
		page, err := l.st.AuditRecords(ctx, store.AuditFilter{Before: seq + 1, Desc: true, Limit: pageSize})
		if err != nil {
			return nil, err
		}
		for _, r := range page {
			if r.Seq != seq || r.Hash != hash || chainHash(r.Prev, r.Seq, r.Time.UnixMicro(), r.Event) != r.Hash {
				return &r, nil
			}
			left(r)
			seq, hash = r.Seq-1, r.Prev
		}
		if len(page) < pageSize {
			return nil, nil
		}
	}
}

// wrongIndex returns the first query column of r that is not what its
// event says, or "". A record whose event does not decode is reported as
// edited by the hash check instead.
func wrongIndex(r store.AuditRecord) string {
	var e Event
	if json.Unmarshal(r.Event, &e) != nil {
		return ""
	}
	for _, c := range [...]struct{ name, col, ev string }{
		{"type", r.Type, e.Type}, {"actor", r.Actor, e.Actor}, {"agent", r.Agent, e.Agent},
		{"tool", r.Tool, e.Tool}, {"decision", r.Decision, e.Decision},
		{"correlation", r.Correlation, e.Correlation}, {"session", r.Session, e.Session},
	} {
		if c.col != indexValue(c.ev) {
			return c.name
		}
	}
	return ""
}

// writtenAs returns the seq a record hashes correctly as, when it is not
// its own but one near it, or 0.
func writtenAs(r store.AuditRecord, micros int64) int64 {
	for d := int64(1); d <= reorderWindow; d++ {
		for _, s := range []int64{r.Seq - d, r.Seq + d} {
			if s > 0 && chainHash(r.Prev, s, micros, r.Event) == r.Hash {
				return s
			}
		}
	}
	return 0
}

// sortProblems sorts ps by seq, keeping the order of a record's own, and drops
// repeats.
func sortProblems(ps []Problem) []Problem {
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Seq < ps[j].Seq })
	return dedupe(ps)
}

// dedupe drops repeats of one problem (same seq and kind), which several
// checkpoints naming one truncation produce.
func dedupe(ps []Problem) []Problem {
	var out []Problem
	for _, p := range ps {
		if n := len(out); n > 0 && p.Seq == out[n-1].Seq && p.Kind == out[n-1].Kind {
			continue
		}
		out = append(out, p)
	}
	return out
}
