-- The tenant: one table per kind of record, each a JSON document keyed by
-- its name, plus settings and the revision counter caches poll.
CREATE TABLE users (name TEXT PRIMARY KEY, doc TEXT NOT NULL, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL);
CREATE TABLE roles (name TEXT PRIMARY KEY, doc TEXT NOT NULL, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL);
CREATE TABLE clients (name TEXT PRIMARY KEY, doc TEXT NOT NULL, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL);
CREATE TABLE tools (name TEXT PRIMARY KEY, doc TEXT NOT NULL, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL);
CREATE TABLE upstreams (name TEXT PRIMARY KEY, doc TEXT NOT NULL, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL);
CREATE TABLE signing_keys (name TEXT PRIMARY KEY, doc TEXT NOT NULL, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL);
CREATE TABLE settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE tenant_revision (id INTEGER PRIMARY KEY CHECK (id = 1), n BIGINT NOT NULL);
INSERT INTO tenant_revision (id, n) VALUES (1, 0);
-- Single-use markers (authorization codes, permission slips, refresh tokens):
-- the first INSERT of a (kind, id) wins, on any replica.
CREATE TABLE consumed (kind TEXT NOT NULL, id TEXT NOT NULL, expires_at BIGINT NOT NULL, PRIMARY KEY (kind, id));
CREATE INDEX consumed_expires ON consumed (expires_at);
