package identity

// Verification of upstream ID tokens (federation): the upstream's discovery
// document and JWKS, fetched and cached, and compact JWS signatures checked
// with the standard library. Only asymmetric algorithms are accepted (never
// "none", never HMAC with a public key), and the header's alg must be the
// key's own.

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// upstreamMeta is the part of an upstream's discovery document we use.
type upstreamMeta struct {
	Issuer                string   `json:"issuer"`
	AuthorizationEndpoint string   `json:"authorization_endpoint"`
	TokenEndpoint         string   `json:"token_endpoint"`
	UserinfoEndpoint      string   `json:"userinfo_endpoint"`
	JWKSURI               string   `json:"jwks_uri"`
	IssParameterSupported bool     `json:"authorization_response_iss_parameter_supported"`
	CodeChallengeMethods  []string `json:"code_challenge_methods_supported"`
}

// upstreamURLSecure reports whether s is an absolute https URL, or an
// http one to a loopback address (an upstream on this machine, as in a
// test), the rule the tenant file applies to a connection's issuer.
func upstreamURLSecure(s string) bool {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return false
	}
	return u.Scheme == "https" || u.Scheme == "http" && store.IsLoopbackHost(u.Hostname())
}

// upstream caches one connection's metadata and keys.
type upstream struct {
	mu     sync.Mutex
	meta   *upstreamMeta
	metaAt time.Time
	keys   map[string]jwk
	keysAt time.Time
}

const (
	upstreamMetaTTL = time.Hour
	upstreamKeysTTL = time.Hour
	upstreamRefetch = time.Minute // an unknown kid refetches the JWKS at most this often
	// upstreamKeysStale is how long past its fetch a key is still used
	// while the upstream's JWKS endpoint fails: long enough to ride out
	// an outage, short enough that a key the upstream withdrew meanwhile
	// (it rotated one that leaked) is not trusted for long.
	upstreamKeysStale = 24 * time.Hour
	upstreamMaxBytes  = 1 << 20
)

func fetchJSON(ctx context.Context, c *http.Client, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: status %d", url, resp.StatusCode)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, upstreamMaxBytes)).Decode(v)
}

func (u *upstream) metadata(ctx context.Context, c *http.Client, issuer string, now time.Time) (*upstreamMeta, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.meta != nil && now.Sub(u.metaAt) < upstreamMetaTTL {
		return u.meta, nil
	}
	var m upstreamMeta
	if err := fetchJSON(ctx, c, strings.TrimSuffix(issuer, "/")+"/.well-known/openid-configuration", &m); err != nil {
		return nil, err
	}
	// OpenID Connect Discovery §4.3: the document's issuer must be the one asked.
	if m.Issuer != issuer {
		return nil, fmt.Errorf("upstream discovery names issuer %q, not %q", m.Issuer, issuer)
	}
	if m.AuthorizationEndpoint == "" || m.TokenEndpoint == "" || m.JWKSURI == "" {
		return nil, errors.New("upstream discovery lacks an endpoint")
	}
	// The tenant file holds the issuer to TLS; the endpoints are the
	// upstream's word and are held to it too: the token endpoint gets
	// the code, its verifier and the client secret, the JWKS decides
	// whose signature is the upstream's, and the authorization endpoint
	// gets the person's password.
	for name, e := range map[string]string{"authorization_endpoint": m.AuthorizationEndpoint,
		"token_endpoint": m.TokenEndpoint, "jwks_uri": m.JWKSURI, "userinfo_endpoint": m.UserinfoEndpoint} {
		if e != "" && !upstreamURLSecure(e) {
			return nil, fmt.Errorf("upstream discovery's %s is not https (http only to a loopback address)", name)
		}
	}
	u.meta, u.metaAt = &m, now
	return &m, nil
}

// key returns the upstream's key kid, refetching the JWKS when it is old or
// does not have the kid (rotation), at most once per upstreamRefetch.
func (u *upstream) key(ctx context.Context, c *http.Client, jwksURI, kid string, now time.Time) (jwk, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	k, ok := u.keys[kid]
	if ok && now.Sub(u.keysAt) < upstreamKeysTTL {
		return k, nil
	}
	if !ok && u.keys != nil && now.Sub(u.keysAt) < upstreamRefetch {
		return jwk{}, fmt.Errorf("unknown signing key %q", kid)
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := fetchJSON(ctx, c, jwksURI, &set); err != nil {
		if ok && now.Sub(u.keysAt) < upstreamKeysStale {
			// The key is one the upstream published at the last fetch:
			// an outage of its key endpoint does not stop sign-ins
			// signed with it, for a while.
			return k, nil
		}
		return jwk{}, err
	}
	keys := map[string]jwk{}
	for _, raw := range set.Keys {
		if k, err := parseJWK(raw); err == nil {
			keys[k.kid] = k
		}
	}
	u.keys, u.keysAt = keys, now
	if k, ok := keys[kid]; ok {
		return k, nil
	}
	return jwk{}, fmt.Errorf("unknown signing key %q", kid)
}

// jwk is a public verification key.
type jwk struct {
	kid string
	alg string // "" when the JWK does not pin one
	key crypto.PublicKey
}

func parseJWK(raw []byte) (jwk, error) {
	var j struct {
		Kty, Kid, Alg, Use, Crv, N, E, X, Y string
	}
	if err := json.Unmarshal(raw, &j); err != nil {
		return jwk{}, err
	}
	if j.Use != "" && j.Use != "sig" {
		return jwk{}, errors.New("not a signing key")
	}
	dec := base64.RawURLEncoding.DecodeString
	k := jwk{kid: j.Kid, alg: j.Alg}
	switch j.Kty {
	case "RSA":
		n, err1 := dec(j.N)
		e, err2 := dec(j.E)
		if err1 != nil || err2 != nil || len(e) > 4 || len(n) < 256 {
			return jwk{}, errors.New("bad RSA key")
		}
		k.key = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	case "EC":
		var curve elliptic.Curve
		switch j.Crv {
		case "P-256":
			curve = elliptic.P256()
		case "P-384":
			curve = elliptic.P384()
		default:
			return jwk{}, errors.New("unsupported curve")
		}
		x, err1 := dec(j.X)
		y, err2 := dec(j.Y)
		size := (curve.Params().BitSize + 7) / 8
		if err1 != nil || err2 != nil || len(x) != size || len(y) != size {
			return jwk{}, errors.New("bad EC key")
		}
		pub, err := ecdsa.ParseUncompressedPublicKey(curve, append(append([]byte{4}, x...), y...))
		if err != nil {
			return jwk{}, err
		}
		k.key = pub
	case "OKP":
		x, err := dec(j.X)
		if j.Crv != "Ed25519" || err != nil || len(x) != ed25519.PublicKeySize {
			return jwk{}, errors.New("bad OKP key")
		}
		k.key = ed25519.PublicKey(x)
	default:
		return jwk{}, errors.New("unsupported key type")
	}
	return k, nil
}

// verifyJWS checks a compact JWS's signature with the key and returns the
// payload. The header's alg must suit the key (and equal the key's alg when
// the JWK pins one).
func verifyJWS(token string, k jwk, alg string) ([]byte, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, errors.New("not a compact JWS")
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, errors.New("bad signature encoding")
	}
	if k.alg != "" && k.alg != alg {
		return nil, fmt.Errorf("alg %s is not the key's (%s)", alg, k.alg)
	}
	input := []byte(parts[0] + "." + parts[1])
	ok := false
	switch pub := k.key.(type) {
	case *rsa.PublicKey:
		switch alg {
		case "RS256", "PS256":
			d := sha256.Sum256(input)
			if alg == "RS256" {
				ok = rsa.VerifyPKCS1v15(pub, crypto.SHA256, d[:], sig) == nil
			} else {
				ok = rsa.VerifyPSS(pub, crypto.SHA256, d[:], sig, nil) == nil
			}
		}
	case *ecdsa.PublicKey:
		var d []byte
		switch {
		case alg == "ES256" && pub.Curve == elliptic.P256():
			s := sha256.Sum256(input)
			d = s[:]
		case alg == "ES384" && pub.Curve == elliptic.P384():
			s := sha512.Sum384(input)
			d = s[:]
		}
		size := (pub.Curve.Params().BitSize + 7) / 8
		if d != nil && len(sig) == 2*size {
			r, s := new(big.Int).SetBytes(sig[:size]), new(big.Int).SetBytes(sig[size:])
			ok = ecdsa.Verify(pub, d, r, s)
		}
	case ed25519.PublicKey:
		if alg == "EdDSA" || alg == "Ed25519" {
			ok = ed25519.Verify(pub, input, sig)
		}
	}
	if !ok {
		return nil, errors.New("signature does not verify")
	}
	return base64.RawURLEncoding.DecodeString(parts[1])
}

// jwsHeader reads a compact JWS's protected header.
func jwsHeader(token string) (alg, kid string, err error) {
	h, _, ok := strings.Cut(token, ".")
	if !ok {
		return "", "", errors.New("not a compact JWS")
	}
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		return "", "", errors.New("bad header encoding")
	}
	var v struct {
		Alg, Kid string
		Crit     []string
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return "", "", errors.New("bad header")
	}
	if len(v.Crit) > 0 {
		return "", "", errors.New("critical header extensions are not supported")
	}
	return v.Alg, v.Kid, nil
}
