package slip_test

import (
	"testing"

	"github.com/gatehouse/gatehouse/internal/slip"
)

// BenchmarkMintVerify is one slip's whole cryptographic life: sign
// (Ed25519), then verify signature, claims and the arguments' digest.
// Single use (a database write) is not included.
//
// full: verified by another Minter (another replica, or any verifier
// through the JWKS), signature included. own: verified by the Minter that
// signed it, as the gateway's built-in and upstream executors do, which
// knows the slip by its exact form and skips the signature check.
func BenchmarkMintVerify(b *testing.B) {
	f := newFixture(b, openSQLite(b))
	args := []byte(`{"month":"2026-10","region":"emea"}`)
	req := slip.Request{Tool: "sales_report", Args: args, Subject: "alice", Actor: agent(), Correlation: "c"}
	other := &slip.Minter{Issuer: f.m.Issuer, Keys: f.m.Keys, Store: f.m.Store, Now: f.m.Now}
	for _, v := range []struct {
		name string
		m    *slip.Minter
	}{{"full", other}, {"own", f.m}} {
		b.Run(v.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				tok, _, err := f.m.Mint(req)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := v.m.Verify(tok, "sales_report", args); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
