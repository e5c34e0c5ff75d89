-- Identity: login sessions, authorization codes, refresh tokens (rotation
-- families), revocations, consents and login-attempt counters. Secrets are
-- never stored: sessions, codes and refresh tokens are keyed by the SHA-256
-- of their value. Times are Unix microseconds.
CREATE TABLE login_sessions (secret_hash TEXT PRIMARY KEY, id TEXT NOT NULL UNIQUE, username TEXT NOT NULL, doc TEXT NOT NULL, expires_at BIGINT NOT NULL);
CREATE INDEX login_sessions_expires ON login_sessions (expires_at);
CREATE TABLE auth_codes (id TEXT PRIMARY KEY, doc TEXT NOT NULL, expires_at BIGINT NOT NULL);
CREATE INDEX auth_codes_expires ON auth_codes (expires_at);
CREATE TABLE refresh_tokens (id TEXT PRIMARY KEY, grant_id TEXT NOT NULL, doc TEXT NOT NULL, expires_at BIGINT NOT NULL);
CREATE INDEX refresh_tokens_grant ON refresh_tokens (grant_id);
CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at);
CREATE TABLE revocations (kind TEXT NOT NULL, id TEXT NOT NULL, expires_at BIGINT NOT NULL, PRIMARY KEY (kind, id));
CREATE INDEX revocations_expires ON revocations (expires_at);
CREATE TABLE consents (username TEXT NOT NULL, client_id TEXT NOT NULL, doc TEXT NOT NULL, PRIMARY KEY (username, client_id));
CREATE TABLE login_attempts (name TEXT PRIMARY KEY, window_start BIGINT NOT NULL, window_end BIGINT NOT NULL, attempts INTEGER NOT NULL);
CREATE INDEX login_attempts_end ON login_attempts (window_end);
-- Sign-ins in progress at an upstream OpenID provider (federation), keyed by
-- the SHA-256 of their state; single use through consumed.
CREATE TABLE federation_states (id TEXT PRIMARY KEY, doc TEXT NOT NULL, expires_at BIGINT NOT NULL);
CREATE INDEX federation_states_expires ON federation_states (expires_at);
