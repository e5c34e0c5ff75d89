-- Two tables every tool call writes get keys that cost one B-tree, not
-- two. audit_log's "seq BIGINT PRIMARY KEY" was a column beside SQLite's
-- rowid with an index of its own; "INTEGER PRIMARY KEY" makes seq the
-- rowid. consumed (single-use markers) was a rowid table with its key in
-- a separate index; WITHOUT ROWID keeps its rows in the key's order.
-- Each append wrote a page of each of the two B-trees.
CREATE TABLE audit_log_new (
	seq INTEGER PRIMARY KEY,
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
INSERT INTO audit_log_new (seq, at, event, prev, hash, sig, type, actor, agent, tool, decision, correlation, session)
	SELECT seq, at, event, prev, hash, sig, type, actor, agent, tool, decision, correlation, session FROM audit_log;
DROP TABLE audit_log;
ALTER TABLE audit_log_new RENAME TO audit_log;
-- The query indexes went with the old table (0002 says why these).
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_actor ON audit_log (actor, seq) WHERE actor <> '';
CREATE INDEX audit_log_agent ON audit_log (agent, seq) WHERE agent <> '';
CREATE INDEX audit_log_tool ON audit_log (tool, seq) WHERE tool <> '';
CREATE INDEX audit_log_correlation ON audit_log (correlation, seq) WHERE correlation <> '';
CREATE TABLE consumed_new (kind TEXT NOT NULL, id TEXT NOT NULL, expires_at BIGINT NOT NULL, PRIMARY KEY (kind, id)) WITHOUT ROWID;
INSERT INTO consumed_new (kind, id, expires_at) SELECT kind, id, expires_at FROM consumed;
DROP TABLE consumed;
ALTER TABLE consumed_new RENAME TO consumed;
CREATE INDEX consumed_expires ON consumed (expires_at);
