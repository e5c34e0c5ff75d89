package slipverify_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/slip"
	"github.com/gatehouse/gatehouse/slipverify"
)

func newVerifier(d *demoIssuer, tool string) *slipverify.Verifier {
	return &slipverify.Verifier{
		Issuer:       d.URL,
		Audience:     slipverify.ToolAudience(d.URL, tool),
		ClientID:     demoClient,
		ClientSecret: demoSecret,
	}
}

func TestVerify(t *testing.T) {
	d := startDemoIssuer()
	defer d.Close()
	ctx := context.Background()
	v := newVerifier(d, "refund")
	args := `{"amount":12,"currency":"EUR"}`

	// Refusals that do not spend the slip come first.
	tok := d.mint("refund", args)
	for _, tt := range []struct {
		name  string
		v     *slipverify.Verifier
		token string
		args  string
		want  error
	}{
		{"other args", v, tok, `{"amount":1200,"currency":"EUR"}`, slipverify.ErrArguments},
		{"case-folded duplicate", v, tok, `{"amount":12,"Amount":1200,"currency":"EUR"}`, slipverify.ErrArguments},
		{"no args", v, tok, ``, slipverify.ErrArguments},
		{"other tool", newVerifier(d, "payroll"), tok, args, slipverify.ErrAudience},
		{"other issuer", &slipverify.Verifier{Issuer: "http://evil.test", Audience: v.Audience, JWKSURL: d.URL + "/jwks", IntrospectionURL: d.URL + "/introspect"}, tok, args, slipverify.ErrInvalid},
		{"expired", &slipverify.Verifier{Issuer: d.URL, Audience: v.Audience, Now: func() time.Time { return time.Now().Add(2 * time.Minute) }}, tok, args, slipverify.ErrExpired},
		{"not a slip", v, "abc.def.ghi", args, slipverify.ErrInvalid},
		// Another spelling of the same slip is not that slip: the unused
		// bits of the signature's last character set, a line break inside.
		{"other last character", v, otherLast(tok), args, slipverify.ErrInvalid},
		{"line break", v, tok[:len(tok)-8] + "\n" + tok[len(tok)-8:], args, slipverify.ErrInvalid},
		{"bad client", &slipverify.Verifier{Issuer: d.URL, Audience: v.Audience, ClientID: demoClient, ClientSecret: "wrong"}, tok, args, slipverify.ErrUnavailable},
	} {
		if _, err := tt.v.Verify(ctx, tt.token, []byte(tt.args)); !errors.Is(err, tt.want) {
			t.Errorf("%s: Verify = %v, want %v", tt.name, err, tt.want)
		}
	}
	hits := d.JWKSHits.Load()
	// The same arguments in another spelling are the same arguments.
	c, err := v.Verify(ctx, tok, []byte(`{ "currency": "EUR", "amount": 12.0 }`))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if c.Subject != "alice" || c.Actor.ClientID != "acme-assistant" || c.Scope != "tool:refund" {
		t.Errorf("claims = %+v", c)
	}
	if _, err := v.Verify(ctx, tok, []byte(args)); !errors.Is(err, slipverify.ErrUsed) {
		t.Errorf("replay: Verify = %v, want ErrUsed", err)
	}
	// v had fetched the keys already: they are cached.
	if n := d.JWKSHits.Load(); n != hits {
		t.Errorf("JWKS fetched %d more times", n-hits)
	}
}

func TestVerifyRequest(t *testing.T) {
	d := startDemoIssuer()
	defer d.Close()
	v := newVerifier(d, "refund")
	tok := d.mint("refund", `{"amount":12}`)
	for _, tt := range []struct {
		auth, body string
		want       error
	}{
		{"", `{"amount":12}`, slipverify.ErrMissing},
		{"Basic " + tok, `{"amount":12}`, slipverify.ErrMissing},
		{"Bearer " + tok, `{"amount":13}`, slipverify.ErrArguments},
		{"bearer " + tok, `{"amount":12}`, nil},
		{"Bearer " + tok, `{"amount":12}`, slipverify.ErrUsed},
	} {
		r := httptest.NewRequest("POST", "/refund", strings.NewReader(tt.body))
		if tt.auth != "" {
			r.Header.Set("Authorization", tt.auth)
		}
		_, body, err := v.VerifyRequest(r)
		if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
			t.Errorf("%.12s… %s: err = %v, want %v", tt.auth, tt.body, err, tt.want)
		}
		if err == nil && string(body) != tt.body {
			t.Errorf("body = %q", body)
		}
	}
}

// TestVerifyRS256 checks a slip signed with an RSA key of the JWKS, as an
// issuer may sign with RS256; and that an alg the key does not have is
// refused (no algorithm confusion).
func TestVerifyRS256(t *testing.T) {
	priv, _ := rsa.GenerateKey(rand.Reader, 2048)
	b64 := base64.RawURLEncoding
	jwks, _ := json.Marshal(map[string]any{"keys": []any{map[string]any{
		"kty": "RSA", "kid": "r1", "alg": "RS256", "use": "sig",
		"n": b64.EncodeToString(priv.N.Bytes()), "e": b64.EncodeToString(big.NewInt(int64(priv.E)).Bytes()),
	}}})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/jwks":
			w.Write(jwks)
		case "/introspect":
			w.Write([]byte(`{"active":true}`))
		}
	}))
	defer srv.Close()
	now := time.Now().Unix()
	digest, _ := slipverify.ArgsDigest([]byte(`{}`))
	claims, _ := json.Marshal(slipverify.Claims{Issuer: srv.URL, Subject: "alice", Audience: "urn:tool", Scope: "tool:t",
		AuthorizationDetails: []slipverify.Detail{{Type: slipverify.DetailType, Tool: "t", ArgsSHA256: digest}},
		JTI:                  "j", IssuedAt: now, Expiry: now + 30})
	sign := func(alg string) string {
		h := b64.EncodeToString([]byte(`{"alg":"` + alg + `","kid":"r1","typ":"` + slipverify.Type + `"}`))
		input := h + "." + b64.EncodeToString(claims)
		sum := sha256.Sum256([]byte(input))
		sig, _ := rsa.SignPKCS1v15(nil, priv, crypto.SHA256, sum[:])
		return input + "." + b64.EncodeToString(sig)
	}
	v := &slipverify.Verifier{Issuer: srv.URL, Audience: "urn:tool", JWKSURL: srv.URL + "/jwks", IntrospectionURL: srv.URL + "/introspect"}
	if _, err := v.Verify(context.Background(), sign("RS256"), nil); err != nil {
		t.Fatalf("RS256: %v", err)
	}
	if _, err := v.Verify(context.Background(), sign("EdDSA"), nil); !errors.Is(err, slipverify.ErrInvalid) {
		t.Fatalf("alg confusion: %v", err)
	}
}

// TestUnknownKeyRefetch: a slip signed by a key the cached JWKS lacks makes
// the verifier fetch the keys again, but not more often than every 30 s.
func TestUnknownKeyRefetch(t *testing.T) {
	d := startDemoIssuer()
	defer d.Close()
	now := time.Now()
	v := newVerifier(d, "refund")
	v.Now = func() time.Time { return now }
	ctx := context.Background()
	if _, err := v.Verify(ctx, d.mint("refund", `{}`), nil); err != nil {
		t.Fatal(err)
	}
	// An emergency rotation: the new key signs at once.
	if err := d.Keys.RotateNow(ctx); err != nil {
		t.Fatal(err)
	}
	tok := d.mint("refund", `{}`)
	if _, err := v.Verify(ctx, tok, nil); !errors.Is(err, slipverify.ErrInvalid) {
		t.Fatalf("new key within 30 s: %v", err)
	}
	now = now.Add(31 * time.Second)
	if _, err := v.Verify(ctx, tok, nil); err != nil {
		t.Fatalf("new key after 30 s: %v", err)
	}
	if n := d.JWKSHits.Load(); n != 2 {
		t.Errorf("JWKS fetched %d times, want 2", n)
	}
}

// TestIntrospectionRedirectNotFollowed: an introspection endpoint that
// redirects does not get the verifier to send the slip and the tool's
// client credentials elsewhere: the verification fails as unavailable and
// the redirect's target gets nothing.
func TestIntrospectionRedirectNotFollowed(t *testing.T) {
	d := startDemoIssuer()
	defer d.Close()
	var reached atomic.Int64
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached.Add(1) }))
	defer elsewhere.Close()
	redirecting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+"/introspect", http.StatusTemporaryRedirect)
	}))
	defer redirecting.Close()
	// Also with a client of the tool author's own (a private CA, a
	// timeout), which follows redirects unless told otherwise.
	for _, client := range []*http.Client{nil, {Timeout: 5 * time.Second}} {
		v := newVerifier(d, "refund")
		v.JWKSURL, v.IntrospectionURL, v.HTTPClient = d.URL+"/jwks", redirecting.URL, client
		args := `{"amount":12}`
		if _, err := v.Verify(context.Background(), d.mint("refund", args), []byte(args)); !errors.Is(err, slipverify.ErrUnavailable) {
			t.Errorf("client %v: Verify through a redirecting introspection endpoint = %v, want ErrUnavailable", client, err)
		}
		if n := reached.Load(); n != 0 {
			t.Errorf("client %v: the redirect was followed %d times", client, n)
		}
	}
}

// otherLast is tok with the last character of its signature changed to
// one that decodes to the same bytes (its lowest unused bit flipped): the
// 64 bytes of an Ed25519 signature leave four such bits.
func otherLast(tok string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, tok[len(tok)-1])
	return tok[:len(tok)-1] + string(alphabet[last^1])
}

// TestVerifyOtherRedeemer: a slip that names another client as its
// redeemer is refused as not this tool's, before introspection, which
// would answer it inactive and have it reported as already used.
func TestVerifyOtherRedeemer(t *testing.T) {
	d := startDemoIssuer()
	defer d.Close()
	canon := []byte(`{"amount":12}`)
	tok, _, err := d.Minter.Mint(slip.Request{Tool: "refund", Args: canon, Subject: "alice", Redeemer: "other-api",
		Actor: &slipverify.Actor{Sub: "acme-assistant", ClientID: "acme-assistant"}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = newVerifier(d, "refund").Verify(context.Background(), tok, canon)
	if !errors.Is(err, slipverify.ErrInvalid) || errors.Is(err, slipverify.ErrUsed) {
		t.Errorf("Verify = %v, want ErrInvalid (for another client)", err)
	}
}

// A slip past its exp but within the tool's Leeway, which the issuer
// answers inactive (its clock allows no skew), is refused as expired, not
// as already used: nobody used it, and a log saying so would send its
// reader after a replay that did not happen.
func TestExpiredAtTheIssuerIsNotUsed(t *testing.T) {
	d := startDemoIssuer()
	defer d.Close()
	var ahead atomic.Int64
	d.Minter.Now = func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) }
	args := `{"amount":12}`
	tok := d.mint("refund", args)
	var c struct {
		Exp int64 `json:"exp"`
	}
	payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatal(err)
	}
	past := time.Until(time.Unix(c.Exp, 0)) + 2*time.Second // inside Leeway
	ahead.Store(int64(past))
	v := newVerifier(d, "refund")
	v.Now = func() time.Time { return time.Now().Add(past) }
	_, err := v.Verify(context.Background(), tok, []byte(args))
	if !errors.Is(err, slipverify.ErrExpired) || errors.Is(err, slipverify.ErrUsed) {
		t.Errorf("a slip expired at the issuer: Verify = %v, want ErrExpired", err)
	}
}
