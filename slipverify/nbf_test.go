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

// TestVerifyHonoursNotBefore: RFC 7519 §4.1.5 asks a slip carrying nbf to
// be refused before it, with the same clock skew allowed as for iat
// (Leeway). Gatehouse writes no nbf; a slip whose signed claims carry one
// is taken only from then on, and not spent before.
func TestVerifyHonoursNotBefore(t *testing.T) {
	d := startDemoIssuer()
	defer d.Close()
	v := newVerifier(d, "refund")
	args := `{"amount":12}`
	digest, _ := slipverify.ArgsDigest([]byte(args))
	now := time.Now().Unix()
	leeway := int64(slipverify.Leeway / time.Second)
	for i, tt := range []struct {
		name string
		nbf  any
		want error
	}{
		{"nbf 20 s ahead", now + 20, slipverify.ErrInvalid},
		{"nbf just past the leeway", now + leeway + 2, slipverify.ErrInvalid},
		{"nbf as a string", fmt.Sprint(now), slipverify.ErrInvalid},
		{"nbf within the leeway", now + 2, nil},
		{"nbf now", now, nil},
		{"nbf past", now - 30, nil},
	} {
		claims := map[string]any{
			"iss": d.URL, "sub": "alice", "aud": v.Audience, "scope": "tool:refund",
			"authorization_details": []any{map[string]any{"type": slipverify.DetailType, "tool": "refund", "args_sha256": digest, "redeemer": demoClient}},
			"jti":                   fmt.Sprint("nbf-", i), "iat": now, "exp": now + 30, "nbf": tt.nbf,
		}
		tok, err := d.Keys.SignJSON(keys.EdDSA, slipverify.Type, claims)
		if err != nil {
			t.Fatal(err)
		}
		_, err = v.Verify(context.Background(), tok, []byte(args))
		if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
			t.Errorf("%s: Verify = %v, want %v", tt.name, err, tt.want)
		}
	}
}

// TestValidateHonoursNotBefore: Validate, which tools verifying the
// signature with their own JWT library call, refuses a slip before its
// nbf (less Leeway) as invalid, and takes it from then on.
func TestValidateHonoursNotBefore(t *testing.T) {
	args := []byte(`{}`)
	digest, _ := slipverify.ArgsDigest(args)
	const iat = 1795634400
	c := slipverify.Claims{Issuer: "https://gh.test", Subject: "alice", Audience: "urn:tool", Scope: "tool:t",
		AuthorizationDetails: []slipverify.Detail{{Type: slipverify.DetailType, Tool: "t", ArgsSHA256: digest}},
		JTI:                  "j", IssuedAt: iat, Expiry: iat + 60, NotBefore: iat + 20}
	at := func(s int64) time.Time { return time.Unix(s, 0) }
	if err := c.Validate(c.Issuer, c.Audience, args, at(iat+20-6)); !errors.Is(err, slipverify.ErrInvalid) {
		t.Errorf("6 s before nbf: Validate = %v, want ErrInvalid", err)
	}
	for _, s := range []int64{iat + 20 - 5, iat + 20, iat + 40} {
		if err := c.Validate(c.Issuer, c.Audience, args, at(s)); err != nil {
			t.Errorf("%d s after nbf: Validate = %v", s-(iat+20), err)
		}
	}
}
