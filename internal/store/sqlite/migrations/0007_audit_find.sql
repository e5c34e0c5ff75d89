-- The audit trail's query indexes move off audit_log into audit_find,
-- which is written behind the records: an append writes only its records
-- and the head, and every so many records (sqldb.auditFindEvery) the
-- append that passes the mark copies the newest ones here in one go. Five
-- index pages per commit were a third of an append's cost on this engine.
-- audit_head.found is the last seq copied; a query reads the records after
-- it straight from audit_log (few, by seq). audit_find repeats audit_log's
-- columns, which verify checks against the hashed event, and verify checks
-- audit_find against audit_log.
CREATE TABLE audit_find (
	seq INTEGER PRIMARY KEY,
	at BIGINT NOT NULL,
	actor TEXT NOT NULL DEFAULT '',
	agent TEXT NOT NULL DEFAULT '',
	tool TEXT NOT NULL DEFAULT '',
	correlation TEXT NOT NULL DEFAULT '');
INSERT INTO audit_find (seq, at, actor, agent, tool, correlation) SELECT seq, at, actor, agent, tool, correlation FROM audit_log;
DROP INDEX audit_log_at;
DROP INDEX audit_log_actor;
DROP INDEX audit_log_agent;
DROP INDEX audit_log_tool;
DROP INDEX audit_log_correlation;
-- Each is ordered by seq within a value (the rowid is seq).
CREATE INDEX audit_find_at ON audit_find (at);
CREATE INDEX audit_find_actor ON audit_find (actor) WHERE actor <> '';
CREATE INDEX audit_find_agent ON audit_find (agent) WHERE agent <> '';
CREATE INDEX audit_find_tool ON audit_find (tool) WHERE tool <> '';
CREATE INDEX audit_find_correlation ON audit_find (correlation) WHERE correlation <> '';
ALTER TABLE audit_head ADD COLUMN found BIGINT NOT NULL DEFAULT 0;
UPDATE audit_head SET found = seq;
