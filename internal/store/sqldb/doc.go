// Package sqldb implements the store interfaces once, on database/sql, for
// every SQL backend. A Dialect carries what differs between engines
// (placeholders, row locks, error codes, migrations); the sqlite and postgres
// packages supply one each.
//
// Anything that must hold across replicas (single use, counters, the audit
// chain) is decided by the database here, never in process memory.
package sqldb
