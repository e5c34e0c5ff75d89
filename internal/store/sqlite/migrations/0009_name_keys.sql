-- Each record's name folded as strings.EqualFold folds it (casefold.Key:
-- every letter the smallest of its case orbit), so that store.NameFree's
-- question ("does the tenant hold this name but for case?"), asked by
-- every admin add and every first federated sign-in under the tenant's
-- lock, is answered through an index instead of by reading every user and
-- client. Go computes the key when a record is made; SQL never folds, it
-- only compares: neither engine's lower() folds as Go does beyond ASCII
-- (SQLite's folds ASCII only, PostgreSQL's follows the database's locale).
-- Here the key of a stored ASCII name is its upper case (what casefold.Key
-- is for ASCII; SQLite's upper() changes ASCII letters only); the rest,
-- and any record a release before this one writes, keep NULL until the
-- store next opens and folds them in Go (sqldb.foldNames).
ALTER TABLE users ADD COLUMN name_key TEXT;
ALTER TABLE clients ADD COLUMN name_key TEXT;
ALTER TABLE tools ADD COLUMN name_key TEXT;
ALTER TABLE roles ADD COLUMN name_key TEXT;
ALTER TABLE upstreams ADD COLUMN name_key TEXT;
UPDATE users SET name_key = upper(name) WHERE length(CAST(name AS BLOB)) = length(name);
UPDATE clients SET name_key = upper(name) WHERE length(CAST(name AS BLOB)) = length(name);
UPDATE tools SET name_key = upper(name) WHERE length(CAST(name AS BLOB)) = length(name);
UPDATE roles SET name_key = upper(name) WHERE length(CAST(name AS BLOB)) = length(name);
UPDATE upstreams SET name_key = upper(name) WHERE length(CAST(name AS BLOB)) = length(name);
CREATE INDEX users_name_key ON users (name_key);
CREATE INDEX clients_name_key ON clients (name_key);
CREATE INDEX tools_name_key ON tools (name_key);
CREATE INDEX roles_name_key ON roles (name_key);
CREATE INDEX upstreams_name_key ON upstreams (name_key);
