package slip_test

import (
	"testing"

	"github.com/gatehouse/gatehouse/internal/slip"
)

// BenchmarkMintVerify is one slip's whole cryptographic life: mint, then
// verify signature, claims and the arguments' digest. Single use (a
// database write) is not included.
//
// full: signed (Ed25519) and verified by another Minter (another replica,
// or any verifier through the JWKS), signature included: a slip that goes
// out to an API. own: the same slip verified by the Minter that signed it,
// which knows it by its exact form and skips the signature check. local: a
// slip for a built-in or upstream MCP tool, which the gateway redeems
// itself: MACed with the process's key, verified by its Minter.
func BenchmarkMintVerify(b *testing.B) {
	f := newFixture(b, openSQLite(b))
	args := []byte(`{"month":"2026-10","region":"emea"}`)
	req := slip.Request{Tool: "sales_report", Args: args, Subject: "alice", Actor: agent(), Correlation: "c"}
	local := req
	local.Local = true
	other := &slip.Minter{Issuer: f.m.Issuer, Keys: f.m.Keys, Store: f.m.Store, Now: f.m.Now}
	for _, v := range []struct {
		name string
		req  slip.Request
		m    *slip.Minter
	}{{"full", req, other}, {"own", req, f.m}, {"local", local, f.m}} {
		b.Run(v.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				tok, _, err := f.m.Mint(v.req)
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
