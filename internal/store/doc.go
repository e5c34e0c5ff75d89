// Package store defines what Gatehouse keeps: the tenant (users, roles,
// clients and agents, tools and their role grants, upstream MCP servers,
// signing keys, settings) behind small interfaces with written contracts.
//
// Backends live in sub-packages: sqlite (the embedded default) and postgres
// (for several replicas) share one SQL implementation in sqldb; storetest is
// the conformance suite every backend must pass.
//
// This package must never import a domain package (identity, gateway, …):
// data flows HTTP → handler → domain → store, never back.
package store
