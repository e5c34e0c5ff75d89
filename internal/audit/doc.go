// Package audit is the one trail of every login and every AI action: an
// append-only, hash-chained log with signed checkpoints, durable before an
// allow takes effect (group commit), queryable and exportable, streamed to
// sinks.
//
// It must never hold a secret: producers pass digests and IDs, and values
// are treated as data in every view.
package audit
