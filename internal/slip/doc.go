// Package slip mints, verifies and redeems permission slips: the one-time,
// one-tool, one-arguments authorization the MCP gateway hands a tool backend
// for each call its policy allowed (the contract is in DESIGN.md and
// docs/slips.md; the public verifier for tools is package slipverify).
//
// Redemption is single use across replicas: it is decided by the store's
// Consume, never in process memory. Every redemption and every refused
// replay is written to the audit trail before the answer is given: durably
// at once (Redeem, introspection), or, for an executor that ends the call
// with a durable record of its own, queued ahead of that record
// (RedeemQueued), which then covers it.
//
// A Minter remembers the slips it made until they are redeemed or expire,
// so that redeeming one in the same process costs no signature
// verification; a signed slip redeemed anywhere else is verified in full.
// A local slip (Request.Local: a built-in or upstream MCP tool's, which
// never leaves the process) is MACed with a key of the process, not
// signed: it is valid nowhere else, and is never introspected (see
// local.go).
//
// This package must never log or audit a slip itself (only its jti), and
// never lets a slip live longer than slipverify.MaxLifetime.
package slip
