package slip_test

import (
	"testing"

	"github.com/gatehouse/gatehouse/internal/slip"
)

// BenchmarkMintVerify is one slip's whole cryptographic life in the gateway
// and a built-in backend: sign (Ed25519), then verify signature, claims and
// the arguments' digest. Single use (a database write) is not included.
func BenchmarkMintVerify(b *testing.B) {
	f := newFixture(b, openSQLite(b))
	args := []byte(`{"month":"2026-10","region":"emea"}`)
	req := slip.Request{Tool: "sales_report", Args: args, Subject: "alice", Actor: agent(), Correlation: "c"}
	b.ReportAllocs()
	for b.Loop() {
		tok, _, err := f.m.Mint(req)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := f.m.Verify(tok, "sales_report", args); err != nil {
			b.Fatal(err)
		}
	}
}
