package sqldb

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

var _ store.AuditStore = (*DB)(nil)

// auditColumns are audit_log's columns in the order records are written
// and scanned.
const auditColumns = "seq, at, event, prev, hash, sig, type, actor, agent, tool, decision, correlation, session"

// auditInsertRows is how many records one INSERT carries: 64 × 13
// parameters stays far below both engines' limits.
const auditInsertRows = 64

// AppendAudit locks the chain head (a row lock on PostgreSQL, the database
// write lock on SQLite), hands it to build and appends what build returns.
func (s *DB) AppendAudit(ctx context.Context, build func(head store.AuditHead) ([]store.AuditRecord, error)) (store.AuditHead, error) {
	var head store.AuditHead
	err := s.Tx(ctx, func(tx *sql.Tx) error {
		var err error
		head, err = s.appendAudit(ctx, tx, build)
		return err
	})
	if err != nil {
		return store.AuditHead{}, err
	}
	return head, nil
}

var _ store.AuditedTx = (*DB)(nil)

// InTxAudit runs change in one transaction and appends, in the same one,
// the records its build function makes on the locked chain head.
func (s *DB) InTxAudit(ctx context.Context, change func(tx store.Tenant) (func(head store.AuditHead) ([]store.AuditRecord, error), error)) (store.AuditHead, error) {
	var head store.AuditHead
	err := s.Tx(ctx, func(tx *sql.Tx) error {
		build, err := change(tenant{db: s, q: tx, inTx: true})
		if err != nil {
			return err
		}
		if build == nil {
			if err := s.queryRowCached(ctx, tx, "SELECT seq, hash FROM audit_head WHERE id = 1").Scan(&head.Seq, &head.Hash); err != nil {
				return fmt.Errorf("read audit head: %w", err)
			}
			return nil
		}
		head, err = s.appendAudit(ctx, tx, build)
		return err
	})
	if err != nil {
		return store.AuditHead{}, err
	}
	return head, nil
}

// appendAudit is AppendAudit in the transaction tx.
func (s *DB) appendAudit(ctx context.Context, tx *sql.Tx, build func(head store.AuditHead) ([]store.AuditRecord, error)) (store.AuditHead, error) {
	var cur store.AuditHead
	err := s.queryRowCached(ctx, tx, "SELECT seq, hash FROM audit_head WHERE id = 1"+s.dialect.ForUpdate).Scan(&cur.Seq, &cur.Hash)
	if err != nil {
		return store.AuditHead{}, fmt.Errorf("read audit head: %w", err)
	}
	recs, err := build(cur)
	if err != nil {
		return store.AuditHead{}, err
	}
	if len(recs) == 0 {
		return cur, nil
	}
	for i, r := range recs {
		if r.Seq != cur.Seq+int64(i)+1 {
			return store.AuditHead{}, fmt.Errorf("append audit: record %d has seq %d, want %d", i, r.Seq, cur.Seq+int64(i)+1)
		}
	}
	head := store.AuditHead{Seq: recs[len(recs)-1].Seq, Hash: recs[len(recs)-1].Hash}
	if s.dialect.Name == "sqlite" {
		// An in-process engine has no round trips to save: one statement
		// parsed once and stepped per record beats parsing a long one.
		if err := s.insertAuditEach(ctx, tx, recs); err != nil {
			return store.AuditHead{}, err
		}
	} else {
		for rest := recs; len(rest) > 0; {
			n := min(len(rest), auditInsertRows)
			if err := s.insertAudit(ctx, tx, rest[:n]); err != nil {
				return store.AuditHead{}, err
			}
			rest = rest[n:]
		}
	}
	for _, r := range recs {
		if m := r.Marks; m != nil {
			// No ON CONFLICT: a marker already used fails the append.
			if _, err := s.execCached(ctx, tx, markerInsert, m.Kind, m.ID, m.Expires.UnixMicro()); err != nil {
				return store.AuditHead{}, fmt.Errorf("append audit record %d: single-use marker %s: %w", r.Seq, m.Kind, err)
			}
		}
	}
	if _, err := s.execCached(ctx, tx, "UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1", head.Seq, head.Hash); err != nil {
		return store.AuditHead{}, fmt.Errorf("move audit head: %w", err)
	}
	return head, nil
}

var _ store.AuditAppenderAt = (*DB)(nil)

// appendAtQuery appends a batch in one statement, when the head is still
// the expected one ($1, $2): it locks the head row, inserts the records and
// their markers (arrays, one element each) and moves the head, or does
// nothing when the head has moved. It answers the head it found and
// whether it moved it. PostgreSQL only (data-modifying WITH, unnest).
const appendAtQuery = `WITH h AS (SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE),
ok AS (SELECT 1 FROM h WHERE seq = ? AND hash = ?),
ins AS (INSERT INTO audit_log (` + auditColumns + `)
	SELECT * FROM unnest(?::bigint[], ?::bigint[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[],
		?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[])
	WHERE EXISTS (SELECT 1 FROM ok)),
mk AS (INSERT INTO consumed (kind, id, expires_at)
	SELECT * FROM unnest(?::text[], ?::text[], ?::bigint[]) WHERE EXISTS (SELECT 1 FROM ok)),
up AS (UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1 AND EXISTS (SELECT 1 FROM ok) RETURNING seq)
SELECT h.seq, h.hash, (SELECT count(*) FROM up) FROM h`

// AppendAuditAt appends recs on expect in one statement (PostgreSQL). On
// engines with one writer at a time (SQLite) it declines: there
// AppendAudit costs no round trips.
func (s *DB) AppendAuditAt(ctx context.Context, expect store.AuditHead, recs []store.AuditRecord) (store.AuditHead, bool, error) {
	if s.dialect.OneWriter || len(recs) == 0 {
		return store.AuditHead{}, false, nil
	}
	n := len(recs)
	var (
		seqs, ats                                                       = make([]int64, n), make([]int64, n)
		events, prevs, hashes, sigs, types, actors, agents, tools, decs = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		corrs, sessions                                                 = make([]string, n), make([]string, n)
		mKinds, mIDs                                                    []string
		mExp                                                            []int64
	)
	for i, r := range recs {
		if r.Seq != expect.Seq+int64(i)+1 {
			return store.AuditHead{}, false, fmt.Errorf("append audit: record %d has seq %d, want %d", i, r.Seq, expect.Seq+int64(i)+1)
		}
		seqs[i], ats[i], events[i], prevs[i], hashes[i], sigs[i] = r.Seq, r.Time.UnixMicro(), string(r.Event), r.Prev, r.Hash, r.Sig
		types[i], actors[i], agents[i], tools[i], decs[i], corrs[i], sessions[i] = r.Type, r.Actor, r.Agent, r.Tool, r.Decision, r.Correlation, r.Session
		if m := r.Marks; m != nil {
			mKinds, mIDs, mExp = append(mKinds, m.Kind), append(mIDs, m.ID), append(mExp, m.Expires.UnixMicro())
		}
	}
	last := recs[n-1]
	var (
		cur   store.AuditHead
		moved int64
	)
	err := s.queryRowCached(ctx, s.sql, appendAtQuery, expect.Seq, expect.Hash,
		seqs, ats, events, prevs, hashes, sigs, types, actors, agents, tools, decs, corrs, sessions,
		mKinds, mIDs, mExp, last.Seq, last.Hash).Scan(&cur.Seq, &cur.Hash, &moved)
	if err != nil {
		return store.AuditHead{}, false, fmt.Errorf("append audit records: %w", err)
	}
	if moved != 1 {
		return cur, false, nil
	}
	return store.AuditHead{Seq: last.Seq, Hash: last.Hash}, true, nil
}

func (s *DB) insertAudit(ctx context.Context, tx *sql.Tx, recs []store.AuditRecord) error {
	var b strings.Builder
	b.WriteString("INSERT INTO audit_log (" + auditColumns + ") VALUES ")
	args := make([]any, 0, len(recs)*13)
	for i, r := range recs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?,?,?,?,?,?,?,?,?,?,?,?,?)")
		args = append(args, r.Seq, r.Time.UnixMicro(), string(r.Event), r.Prev, r.Hash, r.Sig,
			r.Type, r.Actor, r.Agent, r.Tool, r.Decision, r.Correlation, r.Session)
	}
	// At most auditInsertRows texts: a bounded set for the statement cache.
	if _, err := s.execCached(ctx, tx, b.String(), args...); err != nil {
		return fmt.Errorf("append audit records: %w", err)
	}
	return nil
}

func (s *DB) insertAuditEach(ctx context.Context, tx *sql.Tx, recs []store.AuditRecord) error {
	q := "INSERT INTO audit_log (" + auditColumns + ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"
	ctx = s.stmtCtx(ctx, tx)
	st, err := s.stmtFor(ctx, tx, q)
	if err == nil && st == nil {
		st, err = tx.PrepareContext(ctx, q) // not cached yet; closed with tx
	}
	if err != nil {
		return fmt.Errorf("append audit records: %w", err)
	}
	for _, r := range recs {
		_, err := st.ExecContext(ctx, r.Seq, r.Time.UnixMicro(), string(r.Event), r.Prev, r.Hash, r.Sig,
			r.Type, r.Actor, r.Agent, r.Tool, r.Decision, r.Correlation, r.Session)
		if err != nil {
			return fmt.Errorf("append audit record %d: %w", r.Seq, err)
		}
	}
	return nil
}

// AuditHead returns the committed chain head.
func (s *DB) AuditHead(ctx context.Context) (store.AuditHead, error) {
	var h store.AuditHead
	if err := s.queryRowCached(ctx, s.sql, "SELECT seq, hash FROM audit_head WHERE id = 1").Scan(&h.Seq, &h.Hash); err != nil {
		return h, fmt.Errorf("read audit head: %w", err)
	}
	return h, nil
}

// AuditRecords returns the records that match f.
func (s *DB) AuditRecords(ctx context.Context, f store.AuditFilter) ([]store.AuditRecord, error) {
	q, args, limit, err := s.auditQuery(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("query audit: %w", err)
	}
	rows, err := s.sql.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("query audit: %w", err)
	}
	defer rows.Close()
	out := make([]store.AuditRecord, 0, min(limit, 256))
	for rows.Next() {
		r, err := scanAudit(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query audit: %w", err)
	}
	return out, nil
}

// auditQuery is the statement AuditRecords runs for f, its arguments and
// its limit.
func (s *DB) auditQuery(ctx context.Context, f store.AuditFilter) (string, []any, int, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	from, at := "audit_log", "at"
	if s.dialect.Name == "sqlite" {
		way, err := s.wayFor(ctx, f, limit)
		if err != nil {
			return "", nil, 0, err
		}
		switch way {
		case byTime:
			from = "audit_log INDEXED BY audit_log_at"
		case bySeq:
			// A unary + keeps SQLite from reading the window through its
			// index (sqlite.org/optoverview.html, "disqualifying").
			at = "+at"
		}
	}
	var (
		where []string
		args  []any
	)
	add := func(cond string, v any) {
		where = append(where, cond)
		args = append(args, v)
	}
	if f.After > 0 {
		add("seq > ?", f.After)
	}
	if f.Before > 0 {
		add("seq < ?", f.Before)
	}
	if len(f.Types) > 0 {
		ph := strings.TrimSuffix(strings.Repeat("?,", len(f.Types)), ",")
		where = append(where, "type IN ("+ph+")")
		for _, t := range f.Types {
			args = append(args, t)
		}
	}
	for _, c := range []struct {
		col, v  string
		indexed bool
	}{
		{"actor", f.Actor, true}, {"agent", f.Agent, true}, {"tool", f.Tool, true}, {"decision", f.Decision, false},
		{"correlation", f.Correlation, true}, {"session", f.Session, false},
	} {
		switch {
		case c.v == "":
		case c.indexed:
			// The column's index holds only rows where it is not empty, and
			// a planner uses it only when the query says so: "= ?" alone
			// could be "= ''" for all a prepared statement knows (SQLite
			// then read the whole log in seq order; PostgreSQL's generic
			// plan too). The value is not empty here, so this selects no
			// fewer rows.
			add(c.col+" = ? AND "+c.col+" <> ''", c.v)
		default:
			add(c.col+" = ?", c.v)
		}
	}
	// Records are kept to the microsecond: a bound with a finer part is
	// rounded up, so that since keeps its records at or after it and
	// until its records before it. The bounds are written into the
	// statement, not passed as arguments, so that the planner weighs the
	// window it is given: PostgreSQL's generic plan, which a prepared
	// statement settles on after five runs, takes a third of the trail to
	// lie within any "at >= $1", and so read a recent window in seq order
	// from the start of the trail (200 times slower than through the
	// window's index on a trail of a million records). The bounds are
	// integers: the text can hold nothing else.
	if !f.Since.IsZero() {
		where = append(where, at+" >= "+strconv.FormatInt(ceilMicro(f.Since), 10))
	}
	if !f.Until.IsZero() {
		where = append(where, at+" < "+strconv.FormatInt(ceilMicro(f.Until), 10))
	}
	q := "SELECT " + auditColumns + " FROM " + from
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	if f.Desc {
		q += " ORDER BY seq DESC"
	} else {
		q += " ORDER BY seq"
	}
	q += fmt.Sprintf(" LIMIT %d", limit)
	return s.Rebind(q), args, limit, nil
}

// auditWay is how a query of the trail reads its records on SQLite, which
// keeps no statistics to choose by.
type auditWay int

const (
	engineWay auditWay = iota // as the engine chooses
	byTime                    // through the window's index (at)
	bySeq                     // in seq order
)

// wayFor chooses how the query of f, which returns up to limit records,
// reads them on SQLite: through the index of its time window when that
// holds fewer records than the other way reads (windowFewer when a
// person, an agent or a tool is asked for, windowOrSeq when the window is
// the only bound an index serves), else as the engine chooses.
func (s *DB) wayFor(ctx context.Context, f store.AuditFilter, limit int) (auditWay, error) {
	if f.Since.IsZero() && f.Until.IsZero() || f.Correlation != "" {
		return engineWay, nil
	}
	if f.Actor == "" && f.Agent == "" && f.Tool == "" {
		return s.windowOrSeq(ctx, f, limit)
	}
	fewer, err := s.windowFewer(ctx, f)
	if err != nil || !fewer {
		return engineWay, err
	}
	return byTime, nil
}

// windowOrSeq chooses how to read the records of f, whose time window is
// the only bound an index serves, on SQLite: through the window's index,
// which reads every record in the window (and sorts them by seq), or in
// seq order from f's seq bound, which reads the records it meets before
// the window, up to limit within it, and, when the window holds fewer,
// every record after it. Left to itself SQLite read a one-sided window
// always in seq order (the whole trail before "since one hour ago", for
// the first page of every look at it) and a two-sided one always through
// its index (the whole window for every page of a paging through it).
//
// Records are appended in time order, near enough (replicas' clocks
// differ a little): the seqs of the window's first and last records by
// time tell where it lies in the trail, and so how much each way reads,
// in four index lookups. Filters on type, decision or session are taken
// to keep most records; a clock far out, to mislead the estimate, only
// makes the query slower, never its answer different.
func (s *DB) windowOrSeq(ctx context.Context, f store.AuditFilter, limit int) (auditWay, error) {
	since, until := int64(math.MinInt64), int64(math.MaxInt64)
	if !f.Since.IsZero() {
		since = ceilMicro(f.Since)
	}
	if !f.Until.IsZero() {
		until = ceilMicro(f.Until)
	}
	var first, last, lo, hi sql.NullInt64
	err := s.queryRowCached(ctx, s.sql, `SELECT (SELECT MIN(seq) FROM audit_log), (SELECT MAX(seq) FROM audit_log),
		(SELECT seq FROM audit_log INDEXED BY audit_log_at WHERE at >= ? AND at < ? ORDER BY at LIMIT 1),
		(SELECT seq FROM audit_log INDEXED BY audit_log_at WHERE at >= ? AND at < ? ORDER BY at DESC LIMIT 1)`,
		since, until, since, until).Scan(&first, &last, &lo, &hi)
	if err != nil {
		return engineWay, err
	}
	if !lo.Valid {
		return byTime, nil // an empty window: its index reads nothing
	}
	// The seqs f reads, [from, to], and the window's within the trail,
	// [w0, w1].
	from, to := first.Int64, last.Int64
	if f.After >= from {
		from = f.After + 1
	}
	if f.Before > 0 && f.Before <= to {
		to = f.Before - 1
	}
	w0, w1 := min(lo.Int64, hi.Int64), max(lo.Int64, hi.Int64)
	within := func(a, b int64) int64 { return max(0, min(b, to)-max(a, from)+1) }
	before, in, after := within(from, w0-1), within(w0, w1), within(w1+1, to)
	if f.Desc {
		before, after = after, before
	}
	seq := before + in + after
	if in >= int64(limit) {
		seq = before + int64(limit)
	}
	if w1-w0+1 < seq {
		return byTime, nil
	}
	return bySeq, nil
}

// windowCounted bounds the index entries windowFewer counts, each way.
const windowCounted = 10_000

// windowFewer reports, on SQLite, whether the records of f's time window
// are fewer than those of the person, agent or tool it names (within its
// seq bounds), so that the window's index (at) is the one to read them
// through. SQLite keeps no statistics and takes the column's index
// whenever it can: for a busy value within a narrow window that reads
// every record of the value before (or after, newest first) the window,
// more as the trail grows, where the window's index reads the window.
// Both are counted in their index alone, up to windowCounted entries; a
// window of as many or more is left to the column's index. A call
// (correlation) has few records: its index is always the one (wayFor does
// not ask).
func (s *DB) windowFewer(ctx context.Context, f store.AuditFilter) (bool, error) {
	var cols [][2]string
	for _, c := range [][2]string{{"actor", f.Actor}, {"agent", f.Agent}, {"tool", f.Tool}} {
		if c[1] != "" {
			cols = append(cols, c)
		}
	}
	count := func(index string, where []string, args []any, most int) (int, error) {
		var n int
		err := s.sql.QueryRowContext(ctx, fmt.Sprintf("SELECT COUNT(*) FROM (SELECT 1 FROM audit_log INDEXED BY %s WHERE %s LIMIT %d)",
			index, strings.Join(where, " AND "), most), args...).Scan(&n)
		return n, err
	}
	var (
		where []string
		args  []any
	)
	if !f.Since.IsZero() {
		where, args = append(where, "at >= ?"), append(args, ceilMicro(f.Since))
	}
	if !f.Until.IsZero() {
		where, args = append(where, "at < ?"), append(args, ceilMicro(f.Until))
	}
	window, err := count("audit_log_at", where, args, windowCounted)
	if err != nil || window >= windowCounted {
		return false, err
	}
	for _, c := range cols {
		where, args := []string{c[0] + " = ?", c[0] + " <> ''"}, []any{c[1]}
		if f.After > 0 {
			where, args = append(where, "seq > ?"), append(args, f.After)
		}
		if f.Before > 0 {
			where, args = append(where, "seq < ?"), append(args, f.Before)
		}
		n, err := count("audit_log_"+c[0], where, args, window+1)
		if err != nil || n <= window {
			return false, err
		}
	}
	return true, nil
}

type auditScanner interface{ Scan(dest ...any) error }

func scanAudit(sc auditScanner) (store.AuditRecord, error) {
	var (
		r     store.AuditRecord
		at    int64
		event string
	)
	err := sc.Scan(&r.Seq, &at, &event, &r.Prev, &r.Hash, &r.Sig,
		&r.Type, &r.Actor, &r.Agent, &r.Tool, &r.Decision, &r.Correlation, &r.Session)
	if err != nil {
		return r, fmt.Errorf("read audit record: %w", err)
	}
	r.Time = time.UnixMicro(at).UTC()
	r.Event = []byte(event)
	return r, nil
}

// AddAuditCheckpoint stores a checkpoint and returns its ID.
func (s *DB) AddAuditCheckpoint(ctx context.Context, c store.AuditCheckpoint) (int64, error) {
	unlock, err := s.waitWrites(ctx) // in turn with the transactions (identity.exec says why)
	if err != nil {
		return 0, fmt.Errorf("store audit checkpoint: %w", err)
	}
	defer unlock()
	return addAuditCheckpoint(ctx, s, s.sql, c)
}

func addAuditCheckpoint(ctx context.Context, s *DB, q querier, c store.AuditCheckpoint) (int64, error) {
	var id int64
	err := q.QueryRowContext(ctx, s.Rebind("INSERT INTO audit_checkpoints (seq, hash, at, kind, jws) VALUES (?, ?, ?, ?, ?) RETURNING id"),
		c.Seq, c.Hash, c.Time.UnixMicro(), c.Kind, c.JWS).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("store audit checkpoint: %w", err)
	}
	return id, nil
}

// AuditCheckpoints returns checkpoints with ID > afterID, ordered by ID.
func (s *DB) AuditCheckpoints(ctx context.Context, afterID int64, limit int) ([]store.AuditCheckpoint, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.sql.QueryContext(ctx, s.Rebind(fmt.Sprintf(
		"SELECT id, seq, hash, at, kind, jws FROM audit_checkpoints WHERE id > ? ORDER BY id LIMIT %d", limit)), afterID)
	if err != nil {
		return nil, fmt.Errorf("list audit checkpoints: %w", err)
	}
	defer rows.Close()
	var out []store.AuditCheckpoint
	for rows.Next() {
		var (
			c  store.AuditCheckpoint
			at int64
		)
		if err := rows.Scan(&c.ID, &c.Seq, &c.Hash, &at, &c.Kind, &c.JWS); err != nil {
			return nil, fmt.Errorf("list audit checkpoints: %w", err)
		}
		c.Time = time.UnixMicro(at).UTC()
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list audit checkpoints: %w", err)
	}
	return out, nil
}

// auditPruneChunk is how many records one pruning transaction deletes, so that
// appends wait for no more than a short transaction.
const auditPruneChunk = 5000

// PruneAudit finds the prefix to prune and stores the checkpoint mark
// makes in one transaction, then deletes the prefix in short ones.
func (s *DB) PruneAudit(ctx context.Context, before time.Time, resume int64, mark func(last store.AuditRecord) (store.AuditCheckpoint, error)) (int64, error) {
	var last int64
	err := s.Tx(ctx, func(tx *sql.Tx) error {
		// Hold the head so no append interleaves (SQLite already holds the
		// write lock from BEGIN).
		var head int64
		if err := tx.QueryRowContext(ctx, "SELECT seq FROM audit_head WHERE id = 1"+s.dialect.ForUpdate).Scan(&head); err != nil {
			return fmt.Errorf("read audit head: %w", err)
		}
		// The prefix ends just before the first record that is not old
		// enough: clocks of several replicas may disagree, and a chain with
		// a hole would not verify.
		var firstKept sql.NullInt64
		if err := tx.QueryRowContext(ctx, s.Rebind("SELECT MIN(seq) FROM audit_log WHERE at >= ?"), before.UnixMicro()).Scan(&firstKept); err != nil {
			return fmt.Errorf("prune audit: %w", err)
		}
		end := head
		if firstKept.Valid {
			end = firstKept.Int64 - 1
		}
		if end <= max(resume, 0) {
			return nil // nothing new: what lies at or before resume is cut already
		}
		r, err := scanAudit(tx.QueryRowContext(ctx, s.Rebind("SELECT "+auditColumns+" FROM audit_log WHERE seq = ?"), end))
		if isNoRows(err) {
			return nil // already pruned
		}
		if err != nil {
			return err
		}
		c, err := mark(r)
		if err != nil {
			return err
		}
		if _, err := addAuditCheckpoint(ctx, s, tx, c); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.Rebind("DELETE FROM audit_checkpoints WHERE seq < ?"), end); err != nil {
			return fmt.Errorf("prune audit checkpoints: %w", err)
		}
		last = end
		return nil
	})
	if err != nil {
		return 0, err
	}
	// The newest prune checkpoint marks where the chain starts: what lies
	// at or before it is no longer part of it, so deleting it in steps is
	// safe (a crash leaves records that Verify skips and the next call
	// takes, from the checkpoint the caller verified).
	last = max(last, resume)
	if last == 0 {
		return 0, nil
	}
	var deleted int64
	for {
		var lo sql.NullInt64
		if err := s.sql.QueryRowContext(ctx, "SELECT MIN(seq) FROM audit_log").Scan(&lo); err != nil {
			return deleted, fmt.Errorf("prune audit: %w", err)
		}
		if !lo.Valid || lo.Int64 > last {
			return deleted, nil
		}
		unlock, err := s.waitWrites(ctx)
		if err != nil {
			return deleted, fmt.Errorf("prune audit: %w", err)
		}
		res, err := s.sql.ExecContext(ctx, s.Rebind("DELETE FROM audit_log WHERE seq >= ? AND seq < ? AND seq <= ?"),
			lo.Int64, lo.Int64+auditPruneChunk, last)
		unlock()
		if err != nil {
			return deleted, fmt.Errorf("prune audit: %w", err)
		}
		n, _ := res.RowsAffected()
		deleted += n
	}
}

// AuditCursor returns the named stream's position, or 0.
func (s *DB) AuditCursor(ctx context.Context, name string) (int64, error) {
	var seq int64
	err := s.sql.QueryRowContext(ctx, s.Rebind("SELECT seq FROM audit_cursors WHERE name = ?"), name).Scan(&seq)
	if isNoRows(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read audit cursor %q: %w", name, err)
	}
	return seq, nil
}

// SetAuditCursor moves the named stream's position forward.
func (s *DB) SetAuditCursor(ctx context.Context, name string, seq int64) error {
	unlock, err := s.waitWrites(ctx)
	if err != nil {
		return fmt.Errorf("move audit cursor %q: %w", name, err)
	}
	defer unlock()
	_, err = s.sql.ExecContext(ctx, s.Rebind(`INSERT INTO audit_cursors (name, seq, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at
		WHERE audit_cursors.seq < excluded.seq`), name, seq, s.now().UnixMicro())
	if err != nil {
		return fmt.Errorf("move audit cursor %q: %w", name, err)
	}
	return nil
}

// PutAuditCursor sets the named value, forward or back.
func (s *DB) PutAuditCursor(ctx context.Context, name string, v int64) error {
	unlock, err := s.waitWrites(ctx)
	if err != nil {
		return fmt.Errorf("set audit cursor %q: %w", name, err)
	}
	defer unlock()
	_, err = s.sql.ExecContext(ctx, s.Rebind(`INSERT INTO audit_cursors (name, seq, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at`), name, v, s.now().UnixMicro())
	if err != nil {
		return fmt.Errorf("set audit cursor %q: %w", name, err)
	}
	return nil
}

// ClaimAuditCursor takes or renews the named stream's claim for owner.
func (s *DB) ClaimAuditCursor(ctx context.Context, name, owner string, now, until time.Time, stale int64) (bool, int64, int64, error) {
	unlock, err := s.waitWrites(ctx)
	if err != nil {
		return false, 0, 0, fmt.Errorf("claim audit cursor %q: %w", name, err)
	}
	defer unlock()
	_, err = s.sql.ExecContext(ctx, s.Rebind(`INSERT INTO audit_cursors (name, seq, updated_at, owner, lease_until) VALUES (?, 0, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, lease_until = excluded.lease_until
		WHERE audit_cursors.owner = excluded.owner OR audit_cursors.lease_until <= ? OR audit_cursors.lease_until = ?`),
		name, now.UnixMicro(), owner, until.UnixMicro(), now.UnixMicro(), stale) // stale 0: a claim ending at 0 is past now anyway
	if err != nil {
		return false, 0, 0, fmt.Errorf("claim audit cursor %q: %w", name, err)
	}
	var (
		seq, lease int64
		who        string
	)
	if err := s.sql.QueryRowContext(ctx, s.Rebind("SELECT seq, owner, lease_until FROM audit_cursors WHERE name = ?"), name).Scan(&seq, &who, &lease); err != nil {
		return false, 0, 0, fmt.Errorf("claim audit cursor %q: %w", name, err)
	}
	return who == owner, seq, lease, nil
}

// ceilMicro is t in microseconds since the epoch, rounded up.
func ceilMicro(t time.Time) int64 {
	m := t.UnixMicro()
	if time.UnixMicro(m).Before(t) {
		return m + 1
	}
	return m
}
