package slipverify_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/slipverify"
)

// TestVerifyRefusesAlgConfusion: a slip whose header names alg none, or
// HS256 keyed with the published Ed25519 key (the public key as an HMAC
// secret), under the real key's kid, is refused as invalid before
// introspection, and the genuine slip stays redeemable.
func TestVerifyRefusesAlgConfusion(t *testing.T) {
	d := startDemoIssuer()
	defer d.Close()
	ctx := context.Background()
	v := newVerifier(d, "refund")
	args := `{"amount":12}`
	tok := d.mint("refund", args)
	b64 := base64.RawURLEncoding
	parts := strings.Split(tok, ".")
	var h map[string]any
	hb, _ := b64.DecodeString(parts[0])
	json.Unmarshal(hb, &h)
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	json.Unmarshal(d.Keys.JWKS(), &set)
	var x []byte
	for _, k := range set.Keys {
		if k["kid"] == h["kid"] {
			x, _ = b64.DecodeString(k["x"].(string))
		}
	}
	if x == nil {
		t.Fatalf("kid %v is not in the JWKS", h["kid"])
	}
	forge := func(alg string, key []byte) string {
		h := map[string]any{"alg": alg, "kid": h["kid"], "typ": h["typ"]}
		hj, _ := json.Marshal(h)
		input := b64.EncodeToString(hj) + "." + parts[1]
		if key == nil {
			return input + "."
		}
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(input))
		return input + "." + b64.EncodeToString(mac.Sum(nil))
	}
	for name, forged := range map[string]string{
		"none":                  forge("none", nil),
		"HS256 with the key":    forge("HS256", x),
		"HS256 with the x text": forge("HS256", []byte(b64.EncodeToString(x))),
	} {
		if _, err := v.Verify(ctx, forged, []byte(args)); !errors.Is(err, slipverify.ErrInvalid) {
			t.Errorf("%s: Verify = %v, want ErrInvalid", name, err)
		}
	}
	if _, err := v.Verify(ctx, tok, []byte(args)); err != nil {
		t.Fatalf("the genuine slip after the forgeries: %v", err)
	}
	if _, err := v.Verify(ctx, tok, []byte(args)); !errors.Is(err, slipverify.ErrUsed) {
		t.Errorf("replay: Verify = %v, want ErrUsed", err)
	}
}
