package slipverify

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
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
)

// Errors of Verify. Each error Verify returns wraps exactly one of them.
var (
	// ErrMissing: the request carries no bearer token.
	ErrMissing = errors.New("no permission slip")
	// ErrInvalid: not a slip from this issuer (malformed, wrong type,
	// unknown key, bad signature, missing claims, a header or claim named
	// twice or in another case).
	ErrInvalid = errors.New("invalid permission slip")
	// ErrExpired: the slip's lifetime is over.
	ErrExpired = errors.New("permission slip expired")
	// ErrAudience: the slip is for another tool.
	ErrAudience = errors.New("permission slip is for another tool")
	// ErrArguments: the arguments are not the ones the slip was minted for.
	ErrArguments = errors.New("arguments do not match the permission slip")
	// ErrUsed: the issuer answered that the slip is not active: it was
	// already used (or revoked). A slip the issuer answers inactive once
	// its exp has passed by this tool's clock is ErrExpired instead.
	ErrUsed = errors.New("permission slip already used")
	// ErrUnavailable: the issuer could not be asked (network, metadata,
	// keys or introspection failed). Retrying later may succeed.
	ErrUnavailable = errors.New("permission slip issuer unavailable")
)

// Leeway is the clock difference tolerated between the tool and the issuer.
const Leeway = 5 * time.Second

// MaxBody bounds the request body VerifyRequest reads.
const MaxBody = 1 << 20

// Verifier checks permission slips for one tool. Set its fields, then use it
// from any number of goroutines; it caches the issuer's metadata and keys.
type Verifier struct {
	// Issuer is the Gatehouse issuer URL, exactly as slips name it (iss).
	// Its RFC 8414 metadata names the JWKS and the introspection endpoint:
	// at /.well-known/oauth-authorization-server on the issuer's host,
	// followed by the issuer's path if it has one (metadataURL). Required.
	Issuer string
	// Audience is this tool's resource URI (the slip's aud), as
	// ToolAudience(Issuer, name) builds it. Required.
	Audience string
	// ClientID and ClientSecret are this tool's service client at the
	// issuer: introspection (which redeems the slip) authenticates with them
	// (client_secret_basic). Required.
	ClientID, ClientSecret string
	// HTTPClient makes the requests to the issuer; nil means a client with a
	// 10 s timeout. A fetch of the issuer's metadata and keys, and an
	// introspection, are each cut after 10 s whatever the client's timeout
	// (and the context's deadline, for a fetch: requests wait for it). Its
	// redirect policy is not used: only plain GETs follow redirects.
	HTTPClient *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// JWKSURL and IntrospectionURL, when set, are used instead of the ones
	// the issuer's metadata names.
	JWKSURL, IntrospectionURL string

	mu   sync.Mutex
	meta *metadata
	keys map[string]jwk
	last *fetch // the last fetch of the metadata and keys, nil before the first
}

type metadata struct {
	Issuer                string `json:"issuer"`
	JWKSURI               string `json:"jwks_uri"`
	IntrospectionEndpoint string `json:"introspection_endpoint"`
}

// defaultClient follows redirects of the plain GETs (metadata, keys) only:
// a redirected introspection would hand the slip and the tool's client
// credentials to wherever the redirect points.
var defaultClient = &http.Client{Timeout: 10 * time.Second, CheckRedirect: plainRedirectsOnly}

// plainRedirectsOnly follows the redirects of plain GETs (metadata, JWKS)
// and no other: the introspection POST carries the slip and the tool's
// client secret, which a redirect would hand to whatever host it names.
func plainRedirectsOnly(_ *http.Request, via []*http.Request) error {
	switch {
	case via[0].Method != http.MethodGet || via[0].Header.Get("Authorization") != "":
		return http.ErrUseLastResponse
	case len(via) >= 10:
		return errors.New("slipverify: stopped after 10 redirects")
	}
	return nil
}

// VerifyRequest checks the slip an HTTP request carries as its bearer token
// against the request's JSON body, which must be the call's arguments. It
// returns the claims and the arguments in the canonical form the slip's
// digest covers: the body itself as Gatehouse sends it. Use those, not
// the body as it came: a body that only canonicalizes to the slip's
// arguments (re-serialized by a proxy, or sent with a stolen slip) may
// read otherwise to an exact decoder (9007199254740993.0 canonicalizes,
// as a 64-bit float, to 9007199254740992). See Verify for what is checked.
func (v *Verifier) VerifyRequest(r *http.Request) (*Claims, []byte, error) {
	token, ok := bearer(r.Header.Get("Authorization"))
	if !ok {
		return nil, nil, ErrMissing
	}
	var body []byte
	if r.Body != nil {
		b, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
		if err != nil {
			return nil, nil, fmt.Errorf("%w: reading the body: %v", ErrArguments, err)
		}
		if len(b) > MaxBody {
			return nil, nil, fmt.Errorf("%w: body larger than %d bytes", ErrArguments, MaxBody)
		}
		body = b
	}
	c, err := v.Verify(r.Context(), token, body)
	if err != nil {
		return nil, nil, err
	}
	if d, _ := c.Call(); !digestIs(body, d.ArgsSHA256) {
		// Verify found its canonical form to be the slip's arguments.
		if body, err = Canonical(body); err != nil {
			return nil, nil, fmt.Errorf("%w: %w", ErrArguments, err)
		}
	}
	return c, body, nil
}

// Verify checks, in one call, that token is a permission slip this issuer
// signed (EdDSA or RS256, against its JWKS), of type Type, with each
// header and claim named once and as spelt, for this tool (aud) and, when
// it names a redeemer, for this ClientID, within its lifetime (exp, iat
// and nbf when present, with Leeway), bound to args (the SHA-256 of their
// canonical JSON, see Canonical), and — by RFC 7662 introspection, which
// redeems it — not used before. The local checks come first, so a slip
// that fails them is not spent. A slip that passes is spent whatever the
// tool does next.
//
// args are bound by their canonical form, not their bytes: any JSON text
// that canonicalizes to the slip's arguments passes (other whitespace,
// member order or number spellings). Use that canonical form,
// Canonical(args), as VerifyRequest returns it, not args as they came:
// text that only canonicalizes to the slip's arguments may read otherwise
// to an exact decoder (9007199254740993.0 canonicalizes, as a 64-bit
// float, to 9007199254740992).
func (v *Verifier) Verify(ctx context.Context, token string, args []byte) (*Claims, error) {
	c, err := v.check(ctx, token, args)
	if err != nil {
		return nil, err
	}
	if err := v.redeem(ctx, token, c); err != nil {
		return nil, err
	}
	return c, nil
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

// client is HTTPClient (or a default) with plainRedirectsOnly, whatever
// redirect policy HTTPClient has.
func (v *Verifier) client() *http.Client {
	if v.HTTPClient == nil {
		return defaultClient
	}
	c := *v.HTTPClient
	c.CheckRedirect = plainRedirectsOnly
	return &c
}

// check does every verification that needs no single-use answer.
func (v *Verifier) check(ctx context.Context, token string, args []byte) (*Claims, error) {
	if v.Issuer == "" || v.Audience == "" {
		return nil, fmt.Errorf("%w: the verifier needs an Issuer and an Audience", ErrInvalid)
	}
	h, payload, input, sig, err := split(token)
	if err != nil {
		return nil, err
	}
	if !isType(h.Typ) {
		return nil, fmt.Errorf("%w: typ is not %s", ErrInvalid, Type)
	}
	k, err := v.key(ctx, h.Kid)
	if err != nil {
		return nil, err
	}
	if k.alg != h.Alg || !k.verify(input, sig) {
		return nil, fmt.Errorf("%w: bad signature", ErrInvalid)
	}
	var c Claims
	if err := strictNames(payload, claimsShape); err != nil {
		return nil, fmt.Errorf("%w: claims: %v", ErrInvalid, err)
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, fmt.Errorf("%w: claims: %v", ErrInvalid, err)
	}
	if err := c.Validate(v.Issuer, v.Audience, args, v.now()); err != nil {
		return nil, err
	}
	// A slip another client is to redeem is not this tool's: the issuer
	// would answer it inactive, which reads as already used.
	if d, _ := c.Call(); d.Redeemer != "" && d.Redeemer != v.ClientID {
		return nil, fmt.Errorf("%w: the slip is for client %q to redeem, not %q", ErrInvalid, d.Redeemer, v.ClientID)
	}
	return &c, nil
}

// redeem asks the issuer, by introspection, whether the slip is active; the
// first answer for a slip is yes, every later one no.
func (v *Verifier) redeem(ctx context.Context, token string, c *Claims) error {
	m, err := v.metadata(ctx)
	if err != nil {
		return err
	}
	// Bounded whatever HTTPClient's timeout (none, for a client of the
	// tool's own) and ctx's deadline (none, for a background job): a
	// hanging endpoint would otherwise hold the call for ever.
	ctx, cancel := context.WithTimeout(ctx, introspectTimeout)
	defer cancel()
	form := url.Values{"token": {token}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.IntrospectionEndpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(url.QueryEscape(v.ClientID), url.QueryEscape(v.ClientSecret))
	resp, err := v.client().Do(req)
	if err != nil {
		return fmt.Errorf("%w: introspection: %v", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: introspection answered %s", ErrUnavailable, resp.Status)
	}
	var ir struct {
		Active bool   `json:"active"`
		JTI    string `json:"jti"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&ir); err != nil {
		return fmt.Errorf("%w: introspection: %v", ErrUnavailable, err)
	}
	if !ir.Active {
		// Inactive is also the issuer's answer for a slip past its exp
		// by the issuer's clock, which this tool's Leeway still took:
		// said as expired, not as a replay, when this clock agrees.
		if v.now().Unix() >= c.Expiry {
			return fmt.Errorf("%w: before it was redeemed", ErrExpired)
		}
		return ErrUsed
	}
	if ir.JTI != "" && ir.JTI != c.JTI {
		return fmt.Errorf("%w: introspection answered for another slip", ErrInvalid)
	}
	return nil
}

// metadata returns the issuer's endpoints. They are fetched along with the
// keys (see refresh) and kept once fetched: check has found a key before
// redeem asks for them, so they are cached by then.
func (v *Verifier) metadata(ctx context.Context) (*metadata, error) {
	v.mu.Lock()
	m := v.meta
	v.mu.Unlock()
	if m != nil {
		return m, nil
	}
	if err := v.refresh(ctx); err != nil {
		return nil, err
	}
	v.mu.Lock()
	m = v.meta
	v.mu.Unlock()
	if m == nil {
		return nil, fmt.Errorf("%w: no issuer metadata", ErrUnavailable)
	}
	return m, nil
}

// fetchMetadata fetches the issuer's endpoints, unless JWKSURL and
// IntrospectionURL name both.
func (v *Verifier) fetchMetadata(ctx context.Context) (*metadata, error) {
	m := &metadata{JWKSURI: v.JWKSURL, IntrospectionEndpoint: v.IntrospectionURL}
	if m.JWKSURI != "" && m.IntrospectionEndpoint != "" {
		return m, nil
	}
	var doc metadata
	if err := v.getJSON(ctx, metadataURL(v.Issuer), &doc); err != nil {
		return nil, err
	}
	// RFC 8414 §3.3: a document naming another issuer (a redirect to
	// another server, a host serving another tenant's) is not used: its
	// introspection endpoint would be handed the slip and the secret.
	if doc.Issuer != v.Issuer {
		return nil, fmt.Errorf("%w: the issuer's metadata names issuer %q", ErrUnavailable, doc.Issuer)
	}
	if m.JWKSURI == "" {
		m.JWKSURI = doc.JWKSURI
	}
	if m.IntrospectionEndpoint == "" {
		m.IntrospectionEndpoint = doc.IntrospectionEndpoint
	}
	if m.JWKSURI == "" || m.IntrospectionEndpoint == "" {
		return nil, fmt.Errorf("%w: issuer metadata lacks jwks_uri or introspection_endpoint", ErrUnavailable)
	}
	return m, nil
}

// metadataURL is where RFC 8414 §3.1 puts an issuer's metadata: the
// well-known prefix inserted between its host and its path
// (https://id.example/tenants/acme has it at
// https://id.example/.well-known/oauth-authorization-server/tenants/acme),
// not appended to the issuer, where Gatehouse serves nothing.
func metadataURL(issuer string) string {
	const wk = "/.well-known/oauth-authorization-server"
	u, err := url.Parse(issuer)
	if err != nil {
		return strings.TrimSuffix(issuer, "/") + wk // refused by the request
	}
	u.Path, u.RawPath = wk+strings.TrimSuffix(u.Path, "/"), ""
	u.RawQuery, u.Fragment = "", ""
	return u.String()
}

func (v *Verifier) getJSON(ctx context.Context, u string, into any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := v.client().Do(req)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: GET %s answered %s", ErrUnavailable, u, resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(into); err != nil {
		return fmt.Errorf("%w: GET %s: %v", ErrUnavailable, u, err)
	}
	return nil
}

// Anyone who can reach a tool can send tokens naming made-up key IDs, and
// each unknown key ID asks for the issuer's keys again: so fetches are
// spaced, counted from when they start, whether they succeed or fail.
// refetchAfter is how soon a fetch may follow one that succeeded (the keys
// were current then); retryAfter, how soon one may follow a failure, shorter
// so that a failure (a 503, a timeout) does not keep a newly rotated key out
// for long, yet long enough that a failing issuer is not asked again for
// every forged slip.
const (
	refetchAfter = 30 * time.Second
	retryAfter   = 5 * time.Second
)

// fetchTimeout bounds a fetch of the metadata and keys. The fetch runs for
// every request waiting for it, not for the one that started it, so it
// does not end with that request's context.
const fetchTimeout = 10 * time.Second

// introspectTimeout bounds an introspection, the redemption of one slip.
const introspectTimeout = 10 * time.Second

// fetch is one fetch of the issuer's metadata and keys, which any number
// of requests wait for.
type fetch struct {
	started time.Time     // by the Verifier's clock
	done    chan struct{} // closed when the fetch ended
	err     error         // how it failed, nil if it did not; set before done closes
}

// over reports whether another fetch may start at now: f has ended, and
// long enough ago for how it ended.
func (f *fetch) over(now time.Time) bool {
	select {
	case <-f.done:
	default:
		return false // still running: wait for it rather than start another
	}
	wait := refetchAfter
	if f.err != nil {
		wait = retryAfter
	}
	return now.Sub(f.started) >= wait
}

// refresh fetches the issuer's metadata (unless cached) and keys, unless a
// fetch started too recently, and returns how the last fetch failed (nil if
// it did not). At most one fetch runs at a time: a request that finds one
// running waits for it. The start is recorded before the fetch, so neither
// concurrent requests nor a failing issuer make more fetches.
func (v *Verifier) refresh(ctx context.Context) error {
	v.mu.Lock()
	f := v.last
	if f == nil || f.over(v.now()) {
		f = &fetch{started: v.now(), done: make(chan struct{})}
		v.last = f
		go v.run(context.WithoutCancel(ctx), f)
	}
	v.mu.Unlock()
	select {
	case <-f.done:
		return f.err
	case <-ctx.Done():
		return fmt.Errorf("%w: %v", ErrUnavailable, ctx.Err())
	}
}

// run makes the fetch f, keeping what it fetched; on failure, the keys
// fetched before stay.
func (v *Verifier) run(ctx context.Context, f *fetch) {
	defer close(f.done)
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	v.mu.Lock()
	m := v.meta
	v.mu.Unlock()
	if m == nil {
		if m, f.err = v.fetchMetadata(ctx); f.err != nil {
			return
		}
		v.mu.Lock()
		v.meta = m
		v.mu.Unlock()
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if f.err = v.getJSON(ctx, m.JWKSURI, &set); f.err != nil {
		return
	}
	keys := map[string]jwk{}
	for _, raw := range set.Keys {
		if k, err := parseJWK(raw); err == nil {
			keys[k.kid] = k
		}
	}
	v.mu.Lock()
	v.keys = keys
	v.mu.Unlock()
}

// key returns the published key kid, fetching the JWKS when the key is not
// cached (keys rotate: a new kid appears before slips use it), as often as
// refresh allows.
func (v *Verifier) key(ctx context.Context, kid string) (jwk, error) {
	v.mu.Lock()
	k, ok := v.keys[kid]
	v.mu.Unlock()
	if ok {
		return k, nil
	}
	if err := v.refresh(ctx); err != nil {
		return jwk{}, err
	}
	v.mu.Lock()
	k, ok = v.keys[kid]
	v.mu.Unlock()
	if ok {
		return k, nil
	}
	return jwk{}, fmt.Errorf("%w: unknown key", ErrInvalid)
}

// jwk is a verification key from the JWKS.
type jwk struct {
	kid, alg string
	key      crypto.PublicKey
}

func (k jwk) verify(input, sig []byte) bool {
	switch pub := k.key.(type) {
	case ed25519.PublicKey:
		return ed25519.Verify(pub, input, sig)
	case *rsa.PublicKey:
		d := sha256.Sum256(input)
		return rsa.VerifyPKCS1v15(pub, crypto.SHA256, d[:], sig) == nil
	}
	return false
}

// b64 decodes strictly: a token has one spelling only (the unused bits of
// a last character must be zero).
var b64 = base64.RawURLEncoding.Strict()

// compact reports whether token holds only the base64url alphabet and
// dots: the decoder skips CR and LF even when strict, and a token with a
// line break in it would be another spelling of the same slip.
func compact(token string) bool {
	for i := 0; i < len(token); i++ {
		c := token[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func parseJWK(raw []byte) (jwk, error) {
	var j struct {
		Kty, Crv, X, N, E, Kid, Alg, Use string
	}
	if err := json.Unmarshal(raw, &j); err != nil {
		return jwk{}, err
	}
	if j.Use != "" && j.Use != "sig" {
		return jwk{}, errors.New("not a signing key")
	}
	switch {
	case j.Kty == "OKP" && j.Crv == "Ed25519" && (j.Alg == "" || j.Alg == "EdDSA"):
		x, err := b64.DecodeString(j.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			return jwk{}, errors.New("bad Ed25519 key")
		}
		return jwk{kid: j.Kid, alg: "EdDSA", key: ed25519.PublicKey(x)}, nil
	case j.Kty == "RSA" && (j.Alg == "" || j.Alg == "RS256"):
		n, err1 := b64.DecodeString(j.N)
		e, err2 := b64.DecodeString(j.E)
		if err1 != nil || err2 != nil || len(e) == 0 || len(e) > 4 || len(n) < 256 {
			return jwk{}, errors.New("bad RSA key")
		}
		eInt := int(new(big.Int).SetBytes(e).Int64())
		return jwk{kid: j.Kid, alg: "RS256", key: &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: eInt}}, nil
	}
	return jwk{}, errors.New("unsupported key")
}

type header struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Typ string `json:"typ"`
	// Crit names extensions a verifier must understand (RFC 7515 §4.1.11);
	// this package understands none, so a slip with it is refused.
	Crit json.RawMessage `json:"crit"`
}

func split(token string) (h header, payload, input, sig []byte, err error) {
	bad := fmt.Errorf("%w: malformed", ErrInvalid)
	if len(token) > 16<<10 || strings.Count(token, ".") != 2 || !compact(token) {
		return h, nil, nil, nil, bad
	}
	i := strings.IndexByte(token, '.')
	j := strings.LastIndexByte(token, '.')
	hb, err1 := b64.DecodeString(token[:i])
	payload, err2 := b64.DecodeString(token[i+1 : j])
	sig, err3 := b64.DecodeString(token[j+1:])
	if err1 != nil || err2 != nil || err3 != nil {
		return h, nil, nil, nil, bad
	}
	if strictNames(hb, headerShape) != nil {
		return h, nil, nil, nil, bad
	}
	if err := json.Unmarshal(hb, &h); err != nil || h.Crit != nil {
		return h, nil, nil, nil, bad
	}
	return h, payload, []byte(token[:j]), sig, nil
}

// isType reports whether typ names a permission slip: Type, or
// application/ followed by it, comparing as RFC 7515 §4.1.9 compares media
// types, with the case of ASCII letters ignored and no other folding (the
// issuer compares so; Unicode folding would take "gatehouſe-ſlip+jwt",
// with the long s, a spelling no JOSE library writes).
func isType(typ string) bool {
	const prefix = "application/"
	if len(typ) > len(prefix) && asciiEqualFold(typ[:len(prefix)], prefix) {
		typ = typ[len(prefix):]
	}
	return asciiEqualFold(typ, Type)
}

// asciiEqualFold is strings.EqualFold for ASCII letters only: any byte
// outside A-Z and a-z must be equal.
func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

func bearer(v string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != "" && !bytes.ContainsAny([]byte(token), " \t")
}
