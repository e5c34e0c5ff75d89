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
