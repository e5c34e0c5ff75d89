package slipverify_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/slipverify"
)

// TestVerifyRefusesStretchedClaims: slips the issuer's key did sign, but
// whose claims Gatehouse never writes, are refused by the verifier itself
// (not only never minted): a lifetime past 60 s however it is written,
// missing times, a future iat, an audience of several tools, another
// issuer, another type.
func TestVerifyRefusesStretchedClaims(t *testing.T) {
	d := startDemoIssuer()
	defer d.Close()
	v := newVerifier(d, "refund")
	args := `{"amount":12}`
	digest, _ := slipverify.ArgsDigest([]byte(args))
	now := time.Now().Unix()
	base := func() map[string]any {
		return map[string]any{
			"iss": d.URL, "sub": "alice", "aud": v.Audience, "scope": "tool:refund",
			"authorization_details": []any{map[string]any{"type": slipverify.DetailType, "tool": "refund", "args_sha256": digest, "redeemer": demoClient}},
			"jti":                   "j", "iat": now, "exp": now + 30,
		}
	}
	sign := func(typ string, c map[string]any) string {
		tok, err := d.Keys.SignJSON(keys.EdDSA, typ, c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	with := func(k string, val any) map[string]any {
		c := base()
		if val == nil {
			delete(c, k)
		} else {
			c[k] = val
		}
		return c
	}
	both := func(iat, exp int64) map[string]any {
		c := base()
		c["iat"], c["exp"] = iat, exp
		return c
	}
	const big = int64(1) << 62
	for _, tt := range []struct {
		name   string
		typ    string
		claims map[string]any
	}{
		{"an hour's lifetime", slipverify.Type, both(now, now+3600)},
		{"61 s lifetime", slipverify.Type, both(now, now+61)},
		{"lifetime that overflows exp-iat", slipverify.Type, both(-big-1, big)},
		{"exp far ahead, iat far back", slipverify.Type, both(-(1<<63)+1, now+30)},
		{"exp before iat", slipverify.Type, both(now+3, now-100)},
		{"no exp", slipverify.Type, with("exp", nil)},
		{"no iat", slipverify.Type, with("iat", nil)},
		{"iat 10 s ahead", slipverify.Type, both(now+10, now+40)},
		{"iat as a string", slipverify.Type, with("iat", fmt.Sprint(now))},
		{"exp fractional", slipverify.Type, with("exp", float64(now)+30.5)},
		{"aud of two, ours first", slipverify.Type, with("aud", []string{v.Audience, slipverify.ToolAudience(d.URL, "payroll")})},
		{"aud of two, ours second", slipverify.Type, with("aud", []string{slipverify.ToolAudience(d.URL, "payroll"), v.Audience})},
		{"aud of none", slipverify.Type, with("aud", []string{})},
		{"no aud", slipverify.Type, with("aud", nil)},
		{"other iss", slipverify.Type, with("iss", "http://evil.test")},
		{"iss with a trailing slash", slipverify.Type, with("iss", d.URL+"/")},
		{"no sub", slipverify.Type, with("sub", nil)},
		{"no jti", slipverify.Type, with("jti", nil)},
		{"access token typ", "at+jwt", base()},
		{"JWT typ", "JWT", base()},
		{"no typ", "", base()},
		{"two details", slipverify.Type, with("authorization_details", []any{base()["authorization_details"].([]any)[0], base()["authorization_details"].([]any)[0]})},
		{"scope of another tool", slipverify.Type, with("scope", "tool:payroll")},
	} {
		_, err := v.Verify(context.Background(), sign(tt.typ, tt.claims), []byte(args))
		if err == nil || errors.Is(err, slipverify.ErrUsed) || errors.Is(err, slipverify.ErrUnavailable) {
			t.Errorf("%s: Verify = %v, want a refusal before introspection", tt.name, err)
		}
	}
	// The same claims as Gatehouse writes them pass: the refusals above
	// are the claims', not the signing's.
	if _, err := v.Verify(context.Background(), sign(slipverify.Type, base()), []byte(args)); err != nil {
		t.Fatalf("well-formed claims: %v", err)
	}
}
