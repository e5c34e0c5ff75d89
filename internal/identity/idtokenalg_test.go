package identity

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/store"
)

func leftHalfSHA256(tok string) string {
	s := sha256.Sum256([]byte(tok))
	return base64.RawURLEncoding.EncodeToString(s[:16])
}

func leftHalfSHA512(tok string) string {
	s := sha512.Sum512([]byte(tok))
	return base64.RawURLEncoding.EncodeToString(s[:32])
}

// verifyWithJWKS checks a JWT's signature against the key its kid names in
// the published JWKS, with the JWK's own algorithm, independently of the
// key manager; it returns the header's alg.
func verifyWithJWKS(t *testing.T, h *harness, jwt string) string {
	t.Helper()
	resp, err := http.Get(h.url("/jwks.json"))
	if err != nil {
		t.Fatal(err)
	}
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal([]byte(body(t, resp)), &set); err != nil {
		t.Fatal(err)
	}
	hd := header(t, jwt)
	i := strings.LastIndexByte(jwt, '.')
	input := []byte(jwt[:i])
	sig, err := base64.RawURLEncoding.DecodeString(jwt[i+1:])
	if err != nil {
		t.Fatal(err)
	}
	b64 := func(s string) []byte {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, k := range set.Keys {
		if k["kid"] != hd["kid"] {
			continue
		}
		if k["alg"] != hd["alg"] {
			t.Fatalf("header alg %v, the JWK's %s", hd["alg"], k["alg"])
		}
		ok := false
		switch k["kty"] {
		case "OKP":
			ok = k["crv"] == "Ed25519" && ed25519.Verify(ed25519.PublicKey(b64(k["x"])), input, sig)
		case "RSA":
			pub := &rsa.PublicKey{N: new(big.Int).SetBytes(b64(k["n"])), E: int(new(big.Int).SetBytes(b64(k["e"])).Int64())}
			d := sha256.Sum256(input)
			ok = rsa.VerifyPKCS1v15(pub, crypto.SHA256, d[:], sig) == nil
		}
		if !ok {
			t.Fatalf("the %s signature does not verify against JWK %s", hd["alg"], k["kid"])
		}
		return hd["alg"].(string)
	}
	t.Fatalf("kid %v is not in the JWKS", hd["kid"])
	return ""
}

// A client registers id_token_signed_response_alg (OpenID Connect
// Registration): its ID tokens are signed with it, at_hash uses its hash,
// and they verify against the JWKS. Without it, RS256.
func TestIDTokenSignedResponseAlg(t *testing.T) {
	h := newHarness(t)
	// A tenant client with EdDSA (as the tenant file's
	// id_token_signed_response_alg stores it).
	err := h.db.Clients().Create(t.Context(), store.Client{ClientID: "ed-web", Kind: store.KindWeb, FirstParty: true,
		SecretHash: hash(t, "ed-secret"), RedirectURIs: []string{webRedirect}, Source: store.SourceTenant,
		IDTokenSignedResponseAlg: "EdDSA"})
	if err != nil {
		t.Fatal(err)
	}
	b := h.signedIn("alice")
	code := h.code(b, authParams("client_id", "ed-web"))
	r := h.token("ed-web", "ed-secret", url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"code_verifier": {verifier}, "redirect_uri": {webRedirect}})
	if r.Status != 200 || r.ID == "" {
		t.Fatalf("token: %d %v", r.Status, r.JSON)
	}
	if alg := verifyWithJWKS(t, h, r.ID); alg != "EdDSA" {
		t.Errorf("tenant client with EdDSA: ID token alg %s", alg)
	}
	if got := claims(t, r.ID)["at_hash"]; got != leftHalfSHA512(r.Access) {
		t.Errorf("EdDSA at_hash %v, want the left half of SHA-512", got)
	}
	// A refresh keeps the client's algorithm.
	rr := h.token("ed-web", "ed-secret", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {r.Refresh}})
	if rr.Status != 200 || verifyWithJWKS(t, h, rr.ID) != "EdDSA" {
		t.Errorf("refresh: %d %v", rr.Status, rr.JSON)
	}
	// An EdDSA ID token is a good id_token_hint.
	q := redirectQuery(t, h.authorize(b, authParams("client_id", "ed-web", "prompt", "none", "id_token_hint", r.ID)), webRedirect+"?")
	if q.Get("code") == "" {
		t.Errorf("EdDSA id_token_hint: %v", q)
	}

	// Dynamic registration: the algorithm is echoed, stored and used.
	for _, tc := range []struct{ doc, want string }{
		{`{"redirect_uris":["https://ed.example/cb"],"id_token_signed_response_alg":"EdDSA"}`, "EdDSA"},
		{`{"redirect_uris":["https://ed.example/cb"],"id_token_signed_response_alg":"RS256"}`, "RS256"},
		{`{"redirect_uris":["https://ed.example/cb"]}`, "RS256"}, // the default, echoed
	} {
		reg := h.register(tc.doc)
		if reg.Status != 201 || reg.JSON["id_token_signed_response_alg"] != tc.want {
			t.Fatalf("register %s: %d %v", tc.doc, reg.Status, reg.JSON)
		}
		id, secret := reg.JSON["client_id"].(string), reg.JSON["client_secret"].(string)
		v := authParams("client_id", id, "redirect_uri", "https://ed.example/cb")
		csrf, authz := consentForm(t, h.authorize(b, v))
		resp, _ := b.PostForm(h.url("/consent"), url.Values{"csrf": {csrf}, "authz": {authz}, "decision": {"allow"}})
		q := redirectQuery(t, resp, "https://ed.example/cb?")
		tr := h.token(id, secret, url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")},
			"code_verifier": {verifier}, "redirect_uri": {"https://ed.example/cb"}})
		if tr.Status != 200 {
			t.Fatalf("token: %v", tr.JSON)
		}
		if alg := verifyWithJWKS(t, h, tr.ID); alg != tc.want {
			t.Errorf("registered %s: ID token alg %s", tc.want, alg)
		}
		wantHash := map[string]func(string) string{"RS256": leftHalfSHA256, "EdDSA": leftHalfSHA512}[tc.want](tr.Access)
		if got := claims(t, tr.ID)["at_hash"]; got != wantHash {
			t.Errorf("registered %s: at_hash %v, want %s", tc.want, got, wantHash)
		}
	}

	// Algorithms without a key here are refused.
	for _, alg := range []string{"none", "HS256", "ES256", "PS256", "eddsa", "Ed25519"} {
		reg := h.register(`{"redirect_uris":["https://ed.example/cb"],"id_token_signed_response_alg":"` + alg + `"}`)
		if reg.Status != 400 || reg.Error != "invalid_client_metadata" {
			t.Errorf("alg %s: %d %v, want invalid_client_metadata", alg, reg.Status, reg.JSON)
		}
	}

	// Discovery lists exactly what can be registered.
	resp, err := http.Get(h.url("/.well-known/openid-configuration"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	_ = json.Unmarshal([]byte(body(t, resp)), &m)
	if got := metaList(t, m, "id_token_signing_alg_values_supported"); strings.Join(got, " ") != "RS256 EdDSA" {
		t.Errorf("id_token_signing_alg_values_supported %v", got)
	}
}
