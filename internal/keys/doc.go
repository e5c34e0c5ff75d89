// Package keys holds the tenant's signing keys: it creates them on first
// start, seals their private halves before they reach the store, signs and
// verifies compact JWS, publishes the JWKS and rotates keys while the
// previous key stays published until every token it signed has expired
// (unless the rotation is for a compromised key: RotateNow withdraws it).
//
// It must never log, return or store a private key in clear.
package keys
