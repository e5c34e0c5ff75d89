package slipverify_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/slipverify"
)

// TestVerifyTypFoldsASCIIOnly: the typ header is compared as RFC 7515
// compares media types, ignoring the case of ASCII letters only (and an
// application/ prefix), as the issuer's own check does. A typ that equals
// the slip type only under Unicode folding (the long s ſ folds to s, the
// Kelvin sign to k) is not one JOSE libraries write or read as a slip's.
func TestVerifyTypFoldsASCIIOnly(t *testing.T) {
	d := startDemoIssuer()
	defer d.Close()
	v := newVerifier(d, "refund")
	args := `{"amount":12}`
	digest, _ := slipverify.ArgsDigest([]byte(args))
	now := time.Now().Unix()
	for i, tt := range []struct {
		typ string
		ok  bool
	}{
		{slipverify.Type, true},
		{"GATEHOUSE-SLIP+JWT", true},
		{"application/gatehouse-slip+jwt", true},
		{"Application/Gatehouse-Slip+JWT", true},
		{"gatehou\u017fe-\u017flip+jwt", false},
		{"gatehouse-\u017flip+jwt", false},
		{"application/gatehou\u017fe-slip+jwt", false},
		{"gatehouse-slip+jwt ", false},
		{"application/", false},
	} {
		claims := map[string]any{
			"iss": d.URL, "sub": "alice", "aud": v.Audience, "scope": "tool:refund",
			"authorization_details": []any{map[string]any{"type": slipverify.DetailType, "tool": "refund", "args_sha256": digest, "redeemer": demoClient}},
			"jti":                   "typ-" + string(rune('a'+i)), "iat": now, "exp": now + 30,
		}
		tok, err := d.Keys.SignJSON(keys.EdDSA, tt.typ, claims)
		if err != nil {
			t.Fatal(err)
		}
		_, err = v.Verify(context.Background(), tok, []byte(args))
		switch {
		case tt.ok && err != nil:
			t.Errorf("typ %q: Verify = %v, want the slip accepted", tt.typ, err)
		case !tt.ok && !errors.Is(err, slipverify.ErrInvalid):
			t.Errorf("typ %q: Verify = %v, want ErrInvalid", tt.typ, err)
		}
	}
}
