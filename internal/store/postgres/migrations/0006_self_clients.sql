-- The clients that added themselves (dynamic registration, client ID
-- metadata documents) by their creation: what store.Tenant.PruneClients
-- looks through every minute or so, without reading every client's
-- document. Its condition is the one PruneClients's query names, for the
-- planner to take the index.
CREATE INDEX clients_self_created ON clients (created_at) WHERE (doc::jsonb ->> 'source') IN ('registered', 'metadata');
