// Package tools holds the backends that run a tool call once the gateway
// has allowed it and minted its permission slip: the built-in demo tools
// (sales_report, payroll_report, on small bundled datasets) and the HTTP
// API backend. All satisfy [Backend]; the gateway adds the upstream MCP
// backend.
//
// A backend never trusts its caller: the built-in backend verifies and
// redeems the slip itself before it reads any data, and the HTTP backend
// passes the slip to the API, which does the same (package slipverify).
// This package must never log or return a slip, and never follow a
// redirect with one.
package tools
