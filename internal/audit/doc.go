// Package audit is the one trail of every login and every AI action: an
// append-only, hash-chained log with signed checkpoints, durable before an
// allow takes effect (group commit), queryable and exportable, streamed to
// sinks.
//
// It must never hold a secret: producers pass digests and IDs, and values
// are treated as data in every view. (Detail values under secret-looking
// keys are redacted all the same, as a second line of defence.)
//
// # The chain
//
// Record n (n = 1, 2, … with no gap) stores its event as canonical JSON
// (encoding/json of Event: fields in declaration order, map keys sorted,
// no insignificant space, <, > and & escaped; DEL, C1 controls and format
// characters such as bidirectional overrides escaped as \uXXXX too) and
//
//	hash(n) = SHA-256( prev(n) || {"seq":n,"time":MICROS,"event":EVENT} )
//
// where prev(n) = hash(n-1) as 32 bytes (32 zero bytes, Genesis, for
// n = 1), MICROS is the record's Unix time in microseconds and EVENT the
// stored event bytes. Hashes are kept as lowercase hex. An exported line
// (Export, webhook, syslog) carries all of these, so a copy can be
// re-hashed on its own (Entry.Valid).
//
// The sequence is decided by the database: each commit locks the chain
// head row, reads it, appends and moves it in one transaction, so several
// replicas on one PostgreSQL database make one chain.
//
// # Signatures and checkpoints
//
// The last record of every commit carries a signed checkpoint (an EdDSA
// JWS of {seq, hash, kind, iat}, typ CheckpointType) of itself. Checkpoints
// of the head are also stored every CheckpointInterval while the head
// moves (and hourly regardless, so a key rotation never leaves the tail
// signed only by a key that is gone), on demand (Checkpoint), at Close,
// and when pruning (the kept chain starts after a KindPrune checkpoint).
// ExportCheckpoints writes them for a copy off the box.
//
// Verify walks the chain and reports, by seq, a record edited (it no
// longer hashes to its hash, or, its hash rewritten to match, the next
// record, which links on to a signature, names another), moved (it hashes as another seq), deleted
// (a gap), inserted or replaced (it does not link), appended behind the
// writer's back (no signature covers it, or it lies past the head) and a
// cut tail (a checkpoint or the head names a record that is gone). A cut
// made together with the stored checkpoints is found against an off-box
// copy (VerifyOptions.Checkpoints). Signatures by keys no longer published
// are checked with their public halves, kept in the keys' archive; those
// by keys the store does not know at all are counted as unverifiable
// (in the store; in an off-box copy, a finding). A key withdrawn before
// its time (keys rotate --now: it leaked) vouches for nothing from its
// withdrawal on, give or take WithdrawalGrace (the servers still signing
// with it until they reload their keys): a signature by it stating a
// later time, or on a record after one signed as of then, is a finding; what it signed before is
// verified and named in Report.WithdrawnKeys, since whoever holds the key
// can date a signature as they like.
//
// # Durability
//
// Record returns only after the transaction holding its record committed;
// RecordAll does the same for several records in one transaction. Enqueue
// does not wait: its record is committed in order before any record
// queued after it, so the next Record that returns covers it.
// On SQLite the store runs in WAL mode with synchronous=NORMAL: a commit
// is in the WAL file (in the operating system's cache) when it returns, so
// it survives the process being killed (kill -9; TestCrashKeepsAcknowledged
// proves it), but the last commits before a power cut or kernel crash may
// be lost. That is the chosen trade: the issue asks for kill -9, and
// synchronous=FULL (an fsync per commit) costs a third to a half of the
// throughput (see BENCHMARKS.md, "Audit writer"). Deployments that must survive
// power loss run PostgreSQL (synchronous_commit=on, the default).
//
// # Streams
//
// Sinks (Webhook, Syslog) are fed from the store after the fact, each from
// a position kept in the store and moved only once the sink took the
// records: at least once, in order, never holding up Record, retried with
// backoff. Each replica claims a stream before sending, so one replica
// sends it at a time; another takes over when the claim runs out.
// Pruning never deletes a record a stream of the Log has not delivered:
// a sink that fails for longer than the retention holds pruning back
// (counted in SinkStats.HeldBack, logged), it does not lose records.
//
// # What it must never do
//
// Never block Record on a sink (streams read the store after the fact),
// never decide the sequence in process memory, never rewrite or delete a
// record except by Prune, which leaves a signed checkpoint behind and
// keeps what a stream has yet to deliver.
package audit
