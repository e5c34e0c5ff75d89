-- Which client holds each authorization code and refresh token, so that
-- removing a client can end what it was given (store.Tenant.EndClient): both
-- were kept only inside their JSON documents, and consents by client only
-- under their person.
ALTER TABLE auth_codes ADD COLUMN client_id TEXT NOT NULL DEFAULT '';
UPDATE auth_codes SET client_id = COALESCE(doc::jsonb ->> 'client_id', '');
CREATE INDEX auth_codes_client ON auth_codes (client_id);
ALTER TABLE refresh_tokens ADD COLUMN client_id TEXT NOT NULL DEFAULT '';
UPDATE refresh_tokens SET client_id = COALESCE(doc::jsonb ->> 'client_id', '');
CREATE INDEX refresh_tokens_client ON refresh_tokens (client_id);
CREATE INDEX consents_client ON consents (client_id);
-- When each client ID was last removed (EndClient), kept while a token
-- issued to the removed client may live: a client added again under the ID
-- within accesstoken.CreationMargin is not told from it by its creation
-- time alone. Times are Unix microseconds.
CREATE TABLE ended_clients (client_id TEXT PRIMARY KEY, ended_at BIGINT NOT NULL, expires_at BIGINT NOT NULL);
CREATE INDEX ended_clients_expires ON ended_clients (expires_at);
