-- The audit chain. audit_head is the one row every append locks and moves,
-- so the sequence is decided by the database, gap-free. audit_log keeps each
-- record's event as the exact bytes that were hashed; the other columns
-- repeat event fields for queries and are not hashed.
CREATE TABLE audit_head (id INTEGER PRIMARY KEY CHECK (id = 1), seq BIGINT NOT NULL, hash TEXT NOT NULL);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
CREATE TABLE audit_log (
	seq BIGINT PRIMARY KEY,
	at BIGINT NOT NULL,
	event TEXT NOT NULL,
	prev TEXT NOT NULL,
	hash TEXT NOT NULL,
	sig TEXT NOT NULL DEFAULT '',
	type TEXT NOT NULL,
	actor TEXT NOT NULL DEFAULT '',
	agent TEXT NOT NULL DEFAULT '',
	tool TEXT NOT NULL DEFAULT '',
	decision TEXT NOT NULL DEFAULT '',
	correlation TEXT NOT NULL DEFAULT '',
	session TEXT NOT NULL DEFAULT '');
-- Each index costs every append a page write, so only the questions asked
-- most have one: by time, person, agent, tool and one call (correlation).
-- Filters on type, decision or session narrow those (or a time range).
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_actor ON audit_log (actor, seq) WHERE actor <> '';
CREATE INDEX audit_log_agent ON audit_log (agent, seq) WHERE agent <> '';
CREATE INDEX audit_log_tool ON audit_log (tool, seq) WHERE tool <> '';
CREATE INDEX audit_log_correlation ON audit_log (correlation, seq) WHERE correlation <> '';
-- Signed checkpoints of the chain head (periodic, on demand, at pruning).
CREATE TABLE audit_checkpoints (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	seq BIGINT NOT NULL,
	hash TEXT NOT NULL,
	at BIGINT NOT NULL,
	kind TEXT NOT NULL,
	jws TEXT NOT NULL);
CREATE INDEX audit_checkpoints_seq ON audit_checkpoints (seq);
-- Where each stream (webhook, syslog) has got to in the chain, and which
-- replica sends it (owner) until when (lease_until, Unix microseconds).
CREATE TABLE audit_cursors (
	name TEXT PRIMARY KEY,
	seq BIGINT NOT NULL,
	updated_at BIGINT NOT NULL,
	owner TEXT NOT NULL DEFAULT '',
	lease_until BIGINT NOT NULL DEFAULT 0);
