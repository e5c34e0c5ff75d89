package slip_test

import (
	"bytes"
	"testing"

	"github.com/gatehouse/gatehouse/internal/slip"
	"github.com/gatehouse/gatehouse/slipverify"
)

// FuzzSlipArgsDigest: a slip minted for the canonical form of some
// arguments carries slipverify's digest of them, and verifies for
// exactly the argument texts of that canonical form, whatever their
// spacing, order of members or spelling of numbers and strings.
func FuzzSlipArgsDigest(f *testing.F) {
	fx := newFixture(f, openSQLite(f))
	for _, p := range [][2]string{
		{`{"amount":12,"currency":"EUR"}`, `{ "currency" : "EUR", "amount" : 1.2e1 }`},
		{`{"a":[1,2.5,-0,"x\u00e9"]}`, `{"a":[1,2.50,0,"xé"]}`},
		{``, `{}`},
		{`{"n":9007199254740993}`, `{"n":9007199254740992}`},
		{`{"a":"\ud83d\ude00"}`, `{"a":"😀"}`},
		{`{"amount":12}`, `{"Amount":12}`},
	} {
		f.Add([]byte(p[0]), []byte(p[1]), false)
		f.Add([]byte(p[1]), []byte(p[0]), true)
	}
	f.Fuzz(func(t *testing.T, raw, other []byte, local bool) {
		c, err := slipverify.Canonical(raw)
		if err != nil || c[0] != '{' {
			return
		}
		tok, claims, err := fx.m.Mint(slip.Request{Tool: "t", Args: c, Subject: "alice", Actor: agent(), Local: local})
		if err != nil {
			t.Fatal(err)
		}
		d, _ := claims.Call()
		if want, _ := slipverify.ArgsDigest(raw); d.ArgsSHA256 != want {
			t.Fatalf("%q: slip digest %s, slipverify %s", raw, d.ArgsSHA256, want)
		}
		if _, err := fx.m.Verify(tok, "t", raw); err != nil {
			t.Fatalf("%q: the slip does not verify for its own arguments: %v", raw, err)
		}
		oc, oerr := slipverify.Canonical(other)
		same := oerr == nil && bytes.Equal(oc, c)
		if _, err := fx.m.Verify(tok, "t", other); (err == nil) != same {
			t.Fatalf("slip for %q verified for %q: %v (canonical %q, %v)", raw, other, err, oc, oerr)
		}
	})
}
