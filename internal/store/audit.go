package store

import (
	"context"
	"time"
)

// AuditRecord is one stored record of the audit chain. The store keeps it
// as given: Event is hashed as stored, so a backend must return exactly the
// bytes it was handed.
type AuditRecord struct {
	Seq   int64     // 1, 2, 3… with no gap
	Time  time.Time // kept to the microsecond
	Event []byte    // the event as canonical JSON
	Prev  string    // hex SHA-256 of the previous record (the chain head before this one)
	Hash  string    // hex SHA-256 of Prev and this record
	// Sig is a signed checkpoint (compact JWS) of this record, set on the
	// last record of each batch the writer commits; empty on the others.
	Sig string

	// Index columns, copied from the event so that queries need not parse
	// it. They are not part of the hash.
	Type        string
	Actor       string
	Agent       string
	Tool        string
	Decision    string
	Correlation string
	Session     string

	// Marks, when appending, is a single-use marker (as Consumer.Consume
	// writes it) inserted in the same transaction as this record: the two
	// commit together or not at all, and a marker already present fails
	// the whole append. Reads leave it nil.
	Marks *Marker
}

// Marker is a single-use marker: (Kind, ID), kept until Expires.
type Marker struct {
	Kind, ID string
	Expires  time.Time
}

// AuditHead is the chain head: the last record's sequence number and hash.
// An empty chain has Seq 0 and a Hash of 64 zeros (32 zero bytes, hex).
type AuditHead struct {
	Seq  int64
	Hash string
}

// AuditFilter selects audit records. Empty fields match everything.
type AuditFilter struct {
	After  int64 // only records with Seq > After (the pagination cursor)
	Before int64 // when > 0, only records with Seq < Before
	// Desc returns the newest records first (Limit of them).
	Desc        bool
	Types       []string
	Actor       string
	Agent       string
	Tool        string
	Decision    string
	Correlation string
	Session     string
	Since       time.Time // when set, only records at or after Since
	Until       time.Time // when set, only records before Until
	Limit       int       // at most this many; 0 or less means 100
}

// AuditCheckpoint is a signed statement of the chain head at some point.
// JWS is what counts: the other fields repeat its payload for queries.
type AuditCheckpoint struct {
	ID   int64 // assigned by the store, increasing
	Seq  int64
	Hash string
	Time time.Time
	Kind string // periodic | manual | close | prune …
	JWS  string
}

// AuditAppenderAt is an AuditStore that can append records built in
// advance in one step, without first reading the head: one round trip to a
// database server instead of one per statement.
type AuditAppenderAt interface {
	// AppendAuditAt appends recs (which must continue expect) and moves the
	// head to the last of them, atomically, when the head is still expect.
	// applied false means nothing was written: the head has moved (another
	// replica appended) or the store prefers AppendAudit; the caller then
	// appends the usual way. A record's Marks fail the whole append when
	// already used, as in AppendAudit.
	AppendAuditAt(ctx context.Context, expect AuditHead, recs []AuditRecord) (head AuditHead, applied bool, err error)
}

// AuditStore keeps the audit chain, its checkpoints and the cursors of the
// streams that forward it. Every method takes ctx and honours its
// cancellation; implementations are safe for concurrent use, also from
// several processes (replicas) on one database.
type AuditStore interface {
	// AppendAudit runs one transaction that locks the chain head, passes it
	// to build, inserts the records build returns (which must continue the
	// head: Seq head.Seq+1, +2, …) and moves the head to the last of them.
	// Appends from every replica are serialised by the database, so the
	// chain stays one gap-free sequence. build's error aborts the
	// transaction and is returned as is. It returns the new head once the
	// transaction has committed.
	AppendAudit(ctx context.Context, build func(head AuditHead) ([]AuditRecord, error)) (AuditHead, error)
	// AuditHead returns the committed chain head.
	AuditHead(ctx context.Context) (AuditHead, error)
	// AuditRecords returns the records that match f, ordered by Seq
	// (descending when f.Desc).
	AuditRecords(ctx context.Context, f AuditFilter) ([]AuditRecord, error)

	// AddAuditCheckpoint stores a checkpoint and returns its ID.
	AddAuditCheckpoint(ctx context.Context, c AuditCheckpoint) (int64, error)
	// AuditCheckpoints returns up to limit checkpoints with ID > afterID,
	// ordered by ID (limit ≤ 0 means 100).
	AuditCheckpoints(ctx context.Context, afterID int64, limit int) ([]AuditCheckpoint, error)

	// PruneAudit deletes the longest prefix of the chain whose records are
	// all older than before. mark receives the last record to go and
	// returns the checkpoint that marks where the kept part begins; it is
	// stored, and the checkpoints before it dropped, in the transaction
	// that finds the prefix. The prefix is then deleted in short
	// transactions, so appends are never held up for long. Records at or
	// before resume, the Seq of the newest pruning checkpoint the caller
	// verified (0: none), are no longer part of the chain: any that a
	// crash left behind go with this call. (The store does not take its
	// checkpoints' kind column for that: a row planted there would have
	// it delete records.) It returns how many records were deleted; with
	// nothing new to prune (a prefix that ends at or before resume) it
	// calls no mark.
	PruneAudit(ctx context.Context, before time.Time, resume int64, mark func(last AuditRecord) (AuditCheckpoint, error)) (int64, error)

	// AuditCursor returns the stored position (a Seq) of the named stream,
	// or 0 when it has none.
	AuditCursor(ctx context.Context, name string) (int64, error)
	// SetAuditCursor moves the named stream's position forward to seq; a
	// position never moves back.
	SetAuditCursor(ctx context.Context, name string, seq int64) error
	// PutAuditCursor sets the named value, forward or back: state a
	// stream keeps beside its position (its backoff), never a position.
	PutAuditCursor(ctx context.Context, name string, v int64) error
	// ClaimAuditCursor makes owner the named stream's one sender until
	// until, unless another owner's claim runs past now; it reports
	// whether owner holds the claim, the stream's position, and the end
	// of the claim as it stands (Unix microseconds). Replicas claim before
	// each send, so each stream has one sender at a time and another
	// replica takes over when a sender stops renewing. A claim until now
	// gives it up.
	//
	// stale, when not 0, is the end of another owner's claim that the
	// caller has seen unchanged for a whole lease by its own steady clock:
	// a sender renews well within a lease, each time to a later end, so a
	// claim that stayed put has no sender, however far past now it runs
	// (written by a clock that was ahead). Such a claim is taken over.
	ClaimAuditCursor(ctx context.Context, name, owner string, now, until time.Time, stale int64) (held bool, seq, lease int64, err error)
}

// AuditedTx is a Store that makes a change to the tenant and appends its
// audit records in one transaction.
type AuditedTx interface {
	// InTxAudit runs change in one transaction, as Store.InTx does; when
	// change returns a build function, it then locks the chain head in
	// that same transaction, as AuditStore.AppendAudit does, passes it to
	// build and appends the records build returns (which must continue the
	// head). The change and its records commit together or not at all: an
	// error of change, of build or of the append rolls back both, and is
	// returned (change's and build's as they are). A nil build appends
	// nothing. It returns the head after the commit.
	//
	// The head is locked after change, not before: a change that takes
	// long holds back no other appender until it is done.
	InTxAudit(ctx context.Context, change func(tx Tenant) (build func(head AuditHead) ([]AuditRecord, error), err error)) (AuditHead, error)
}
