package slipverify_test

// An attacker who can present any token to a tool: every way of dressing up
// a token that the issuer did not sign for this call, or of stretching one
// it did sign, is refused before the slip is spent.

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/slipverify"
)

var b64 = base64.RawURLEncoding

// issuerKid is the kid of the key the demo issuer signs slips with now.
func issuerKid(t *testing.T, d *demoIssuer) string {
	t.Helper()
	var h struct {
		Kid string `json:"kid"`
	}
	hb, _ := b64.DecodeString(strings.Split(d.mint("refund", `{}`), ".")[0])
	if err := json.Unmarshal(hb, &h); err != nil || h.Kid == "" {
		t.Fatalf("header %s: %v", hb, err)
	}
	return h.Kid
}

// TestVerifyIgnoresKeysNamedByTheToken: a slip signed with the attacker's
// own Ed25519 key, which its header hands over (jwk) or points at (jku,
// x5u) and names under a kid of its own or the issuer's, is refused: the
// only keys are the issuer's JWKS, and nothing the header points at is
// fetched.
func TestVerifyIgnoresKeysNamedByTheToken(t *testing.T) {
	d := startDemoIssuer()
	defer d.Close()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	evilJWK := map[string]any{"kty": "OKP", "crv": "Ed25519", "x": b64.EncodeToString(pub), "kid": "evil", "alg": "EdDSA"}
	var fetched atomic.Int32
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetched.Add(1)
		json.NewEncoder(w).Encode(map[string]any{"keys": []any{evilJWK}})
	}))
	defer evil.Close()

	v := newVerifier(d, "refund")
	args := `{"amount":12}`
	digest, _ := slipverify.ArgsDigest([]byte(args))
	now := time.Now().Unix()
	claims, _ := json.Marshal(slipverify.Claims{Issuer: d.URL, Subject: "alice", Audience: v.Audience, Scope: "tool:refund",
		AuthorizationDetails: []slipverify.Detail{{Type: slipverify.DetailType, Tool: "refund", ArgsSHA256: digest, Redeemer: demoClient}},
		JTI:                  "forged", IssuedAt: now, Expiry: now + 30})
	realKid := issuerKid(t, d)
	for _, kid := range []string{"evil", realKid} {
		for name, extra := range map[string]map[string]any{
			"jwk": {"jwk": evilJWK},
			"jku": {"jku": evil.URL},
			"x5u": {"x5u": evil.URL},
		} {
			h := map[string]any{"alg": "EdDSA", "kid": kid, "typ": slipverify.Type}
			for k, x := range extra {
				h[k] = x
			}
			hj, _ := json.Marshal(h)
			input := b64.EncodeToString(hj) + "." + b64.EncodeToString(claims)
			tok := input + "." + b64.EncodeToString(ed25519.Sign(priv, []byte(input)))
			if _, err := v.Verify(context.Background(), tok, []byte(args)); !errors.Is(err, slipverify.ErrInvalid) {
				t.Errorf("%s header, kid %s: Verify = %v, want ErrInvalid", name, kid, err)
			}
		}
	}
	if n := fetched.Load(); n != 0 {
		t.Errorf("the URL a header named was fetched %d times", n)
	}
}

// TestVerifyJWKSWithForeignKeyTypes: a JWKS that also holds keys of types
// this package does not verify with (an HMAC secret, an EC key, an RSA key
// for another algorithm, an Ed25519 key for encryption) makes none of them
// usable: a slip that names one, with the alg it would take, is refused,
// while the issuer's own key still verifies.
func TestVerifyJWKSWithForeignKeyTypes(t *testing.T) {
	d := startDemoIssuer()
	defer d.Close()
	secret := []byte("a symmetric key anyone could hold")
	ecPriv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	ecPub, _ := ecPriv.PublicKey.Bytes() // 0x04 || X || Y
	foreign := []any{
		map[string]any{"kty": "oct", "kid": "oct", "alg": "HS256", "k": b64.EncodeToString(secret)},
		map[string]any{"kty": "EC", "kid": "ec", "crv": "P-256", "alg": "ES256",
			"x": b64.EncodeToString(ecPub[1:33]), "y": b64.EncodeToString(ecPub[33:])},
		map[string]any{"kty": "OKP", "kid": "enc", "crv": "Ed25519", "use": "enc", "x": b64.EncodeToString(edPub)},
		map[string]any{"kty": "OKP", "kid": "x25519", "crv": "X25519", "x": b64.EncodeToString(edPub)},
		map[string]any{"kty": "OKP", "kid": "edhs", "crv": "Ed25519", "alg": "HS256", "x": b64.EncodeToString(edPub)},
	}
	var set struct {
		Keys []any `json:"keys"`
	}
	if err := json.Unmarshal(d.Keys.JWKS(), &set); err != nil {
		t.Fatal(err)
	}
	set.Keys = append(foreign, set.Keys...)
	jwks, _ := json.Marshal(set)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(jwks) }))
	defer srv.Close()
	v := newVerifier(d, "refund")
	v.JWKSURL = srv.URL

	args := `{"amount":12}`
	digest, _ := slipverify.ArgsDigest([]byte(args))
	now := time.Now().Unix()
	claims, _ := json.Marshal(slipverify.Claims{Issuer: d.URL, Subject: "alice", Audience: v.Audience, Scope: "tool:refund",
		AuthorizationDetails: []slipverify.Detail{{Type: slipverify.DetailType, Tool: "refund", ArgsSHA256: digest, Redeemer: demoClient}},
		JTI:                  "forged", IssuedAt: now, Expiry: now + 30})
	forge := func(alg, kid string, sign func(input []byte) []byte) string {
		hj, _ := json.Marshal(map[string]string{"alg": alg, "kid": kid, "typ": slipverify.Type})
		input := b64.EncodeToString(hj) + "." + b64.EncodeToString(claims)
		return input + "." + b64.EncodeToString(sign([]byte(input)))
	}
	hs := func(input []byte) []byte { m := hmac.New(sha256.New, secret); m.Write(input); return m.Sum(nil) }
	es := func(input []byte) []byte {
		sum := sha256.Sum256(input)
		r, s, _ := ecdsa.Sign(rand.Reader, ecPriv, sum[:])
		sig := make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
		return sig
	}
	ed := func(input []byte) []byte { return ed25519.Sign(edPriv, input) }
	for name, tok := range map[string]string{
		"HS256 under the oct key":         forge("HS256", "oct", hs),
		"ES256 under the EC key":          forge("ES256", "ec", es),
		"EdDSA under an encryption key":   forge("EdDSA", "enc", ed),
		"EdDSA under an X25519 key":       forge("EdDSA", "x25519", ed),
		"EdDSA under a key for HS256":     forge("EdDSA", "edhs", ed),
		"HS256 keyed by the Ed25519 x":    forge("HS256", "edhs", func(in []byte) []byte { m := hmac.New(sha256.New, edPub); m.Write(in); return m.Sum(nil) }),
		"HS256 under the issuer's kid":    forge("HS256", issuerKid(t, d), hs),
		"none under the oct key":          forge("none", "oct", func([]byte) []byte { return nil }),
		"ES256 under the issuer's Ed kid": forge("ES256", issuerKid(t, d), es),
	} {
		if _, err := v.Verify(context.Background(), tok, []byte(args)); !errors.Is(err, slipverify.ErrInvalid) {
			t.Errorf("%s: Verify = %v, want ErrInvalid", name, err)
		}
	}
	if _, err := v.Verify(context.Background(), d.mint("refund", args), []byte(args)); err != nil {
		t.Errorf("the issuer's slip with foreign keys in the JWKS: %v", err)
	}
}

// TestVerifyRefusesOtherSpellings: a genuine slip written any other way
// than as a compact JWS of three unpadded base64url parts is refused, and
// stays redeemable in its one spelling.
func TestVerifyRefusesOtherSpellings(t *testing.T) {
	d := startDemoIssuer()
	defer d.Close()
	v := newVerifier(d, "refund")
	args := `{"amount":12}`
	tok := d.mint("refund", args)
	p := strings.Split(tok, ".")
	pad := func(s string) string { return s + strings.Repeat("=", (4-len(s)%4)%4) }
	std := func(s string) string {
		b, _ := b64.DecodeString(s)
		return base64.StdEncoding.EncodeToString(b)
	}
	for name, bad := range map[string]string{
		"four segments":         tok + ".",
		"five segments (JWE)":   p[0] + "." + p[1] + ".." + p[2] + ".x",
		"extra segment inside":  p[0] + "." + p[1] + "." + p[1] + "." + p[2],
		"padded signature":      p[0] + "." + p[1] + "." + pad(p[2]) + "==",
		"padded parts":          pad(p[0]) + "=." + pad(p[1]) + "=." + pad(p[2]) + "=",
		"standard alphabet":     std(p[0]) + "." + std(p[1]) + "." + std(p[2]),
		"leading dot":           "." + tok,
		"space inside":          p[0] + ". " + p[1] + "." + p[2],
		"tab at the end":        tok + "\t",
		"JSON serialization":    `{"protected":"` + p[0] + `","payload":"` + p[1] + `","signature":"` + p[2] + `"}`,
		"unencoded payload":     p[0] + "." + `{"iss":"x"}` + "." + p[2],
		"empty signature":       p[0] + "." + p[1] + ".",
		"two dots, no payload":  p[0] + ".." + p[2],
		"signature doubled":     tok + p[2],
		"header base64 of JSON": b64.EncodeToString([]byte(`{"alg":"EdDSA"}`)) + "." + p[1] + "." + p[2],
	} {
		if _, err := v.Verify(context.Background(), bad, []byte(args)); !errors.Is(err, slipverify.ErrInvalid) {
			t.Errorf("%s: Verify = %v, want ErrInvalid", name, err)
		}
	}
	if _, err := v.Verify(context.Background(), tok, []byte(args)); err != nil {
		t.Fatalf("the slip in its own spelling: %v", err)
	}
}
