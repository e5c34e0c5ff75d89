// Package slipverify lets a tool that Gatehouse calls check the permission
// slip that comes with each call, in one call of its own.
//
// Gatehouse lets an AI agent run a tool for a person only after its policy
// allowed that exact call, and then hands the tool a permission slip: a
// compact JWS (typ [Type]) naming the tool (aud), the person (sub), the
// agent (act), the SHA-256 of the call's canonical JSON arguments and a
// lifetime of at most a minute. An HTTP tool receives the slip as its bearer
// token and the arguments as its JSON body. [Verifier.VerifyRequest] checks
// the signature against the issuer's JWKS (EdDSA or RS256, cached), the type,
// the issuer, the audience, the lifetime and the arguments' digest, and then
// redeems the slip by RFC 7662 introspection, which answers active only the
// first time: a slip runs one call, once, on any replica of the tool. It
// returns the arguments in their canonical form, the bytes the digest
// covers: a tool acts on those, not on the body as it came.
//
// The contract for tools written in other languages is docs/slips.md.
//
// This package depends on the standard library only, never logs, and never
// keeps a slip after Verify returns.
package slipverify
