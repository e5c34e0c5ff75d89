-- Who holds each authorization code and refresh token, so that removing or
-- disabling a user can end them (store.Tenant.EndUser): both were kept only
-- inside their JSON documents.
ALTER TABLE auth_codes ADD COLUMN username TEXT NOT NULL DEFAULT '';
UPDATE auth_codes SET username = COALESCE(doc::jsonb ->> 'username', '');
CREATE INDEX auth_codes_username ON auth_codes (username);
ALTER TABLE refresh_tokens ADD COLUMN username TEXT NOT NULL DEFAULT '';
UPDATE refresh_tokens SET username = COALESCE(doc::jsonb ->> 'username', '');
CREATE INDEX refresh_tokens_username ON refresh_tokens (username);
CREATE INDEX login_sessions_username ON login_sessions (username);
