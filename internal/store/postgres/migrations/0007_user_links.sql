-- The people a federation connection made, by the upstream account they
-- are linked to (their attribute idp_sub): what a first sign-in through a
-- connection looks for (Tenant.UsersLinkedTo), under the tenant's lock,
-- without reading every user. Its expression is the one that query names,
-- for the planner to take the index.
CREATE INDEX users_idp_sub ON users ((doc::jsonb -> 'attributes' ->> 'idp_sub'));
