package slip_test

import (
	"context"
	"testing"

	"github.com/gatehouse/gatehouse/internal/slip"
	"github.com/gatehouse/gatehouse/slipverify"
)

// TestIntrospectHoldsClaimsAsVerifiersDo: introspection answers active
// only for a slip whose claims slipverify's Validate would accept (but
// the arguments, which a tool checks itself): one signed by the tenant's
// keys with no jti (whose single-use marker every such slip would
// share), no subject, a lifetime past the contract's bound, an issue
// time in the future or a scope that names another tool is inactive, and
// not spent.
func TestIntrospectHoldsClaimsAsVerifiersDo(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, openSQLite(t))
	now := f.now.Unix()
	good := func() slipverify.Claims {
		return slipverify.Claims{
			Issuer: issuer, Subject: "alice", Audience: f.m.Audience("refund"), Actor: agent(), Scope: "tool:refund",
			AuthorizationDetails: []slipverify.Detail{{Type: slipverify.DetailType, Tool: "refund",
				ArgsSHA256: slipverify.Digest([]byte("{}")), Redeemer: "billing-api"}},
			JTI: slip.NewID(), IssuedAt: now, Expiry: now + 30,
		}
	}
	for name, bad := range map[string]func(*slipverify.Claims){
		"no jti":          func(c *slipverify.Claims) { c.JTI = "" },
		"no subject":      func(c *slipverify.Claims) { c.Subject = "" },
		"no iat":          func(c *slipverify.Claims) { c.IssuedAt = 0 },
		"too long":        func(c *slipverify.Claims) { c.Expiry = c.IssuedAt + slipverify.MaxLifetime + 1 },
		"from the future": func(c *slipverify.Claims) { c.IssuedAt, c.Expiry = now+3600, now+3630 },
		"other scope":     func(c *slipverify.Claims) { c.Scope = "tool:payroll_report" },
		// exp - iat wraps around in int64: a lifetime of about 2^63 s
		// that a subtraction reads as negative.
		"overflowing lifetime":   func(c *slipverify.Claims) { c.IssuedAt, c.Expiry = -(1<<62)-1, 1<<62 },
		"iat at the epoch's end": func(c *slipverify.Claims) { c.IssuedAt = -(1 << 63) + 1 },
		"exp before iat":         func(c *slipverify.Claims) { c.Expiry = c.IssuedAt - 1 },
	} {
		c := good()
		bad(&c)
		tok, err := f.keys.SignJSON(slip.Alg, slipverify.Type, c)
		if err != nil {
			t.Fatal(err)
		}
		if resp, ok := f.m.Introspect(ctx, tok, "billing-api", true); !ok || resp["active"] != false {
			t.Errorf("%s: introspection answered %v", name, resp)
		}
	}
	// The same slip as it should be is active: the refusals above are the
	// claims', not the way the test signs.
	tok, err := f.keys.SignJSON(slip.Alg, slipverify.Type, good())
	if err != nil {
		t.Fatal(err)
	}
	if resp, ok := f.m.Introspect(ctx, tok, "billing-api", true); !ok || resp["active"] != true {
		t.Errorf("a well-formed slip: introspection answered %v", resp)
	}
}
