package identity

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/password"
	"github.com/gatehouse/gatehouse/internal/store"
)

// client returns the client with the ID: a tenant or registered client from
// the store, or, for an https URL, the client its metadata document
// describes. store.ErrNotFound (wrapped) when there is none, and
// errClientDisabled (which wraps it) when the client is disabled: a disabled
// client is refused everywhere an unknown one is. An ID longer than
// maxClientIDLen is errClientIDTooLong (which wraps it too), with nothing
// read, fetched or cached. An ID that is not text (isText) is unknown,
// with nothing read either.
func (p *Provider) client(ctx context.Context, id string) (store.Client, error) {
	if len(id) > maxClientIDLen {
		return store.Client{}, errClientIDTooLong
	}
	if !isText(id) {
		return store.Client{}, store.ErrNotFound
	}
	c, err := p.storedClient(ctx, id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.Client{}, err
	}
	if err != nil || c.Source == store.SourceMetadata {
		if !isMetadataClientID(id) {
			return store.Client{}, store.ErrNotFound
		}
		stored, found := c, err == nil
		if c, err = p.metadataClient(ctx, id); err != nil {
			return store.Client{}, err
		}
		// A client removed while its document stays cached is stored
		// again, as a new client, before anything is given to it: what
		// the removed one was given (consent, grants, tokens) is dated
		// before the new record's creation and ends (since), and ended
		// with its removal in any case (store.Tenant.EndClient).
		if !found {
			ip, _ := ctx.Value(ctxClientIP{}).(netip.Addr)
			if stored, err = p.keepMetadataClient(ctx, c, ip); err != nil {
				return store.Client{}, err
			}
		}
		// An admin disables a metadata client on its stored record:
		// that holds at once, whatever the document's cached copy
		// (kept as long as its Cache-Control says) remembers. Likewise
		// its creation is the stored record's.
		c.Disabled = c.Disabled || stored.Disabled
		c.CreatedAt = stored.CreatedAt
	}
	if c.Disabled {
		return store.Client{}, errClientDisabled
	}
	return c, nil
}

// errClientDisabled: the client exists and is disabled.
var errClientDisabled = fmt.Errorf("%w: the client is disabled", store.ErrNotFound)

// isText reports whether s is valid UTF-8 without a NUL byte: what a
// PostgreSQL text column can hold and be compared with. Anything else, in
// an identifier a request names, makes the store fail; refused before it
// is asked, it is answered as unknown or malformed rather than as a 500
// logged as an error, which anyone could repeat without end.
func isText(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

// storedClient returns the client record the store has, whatever its source
// or state, through the short cache.
func (p *Provider) storedClient(ctx context.Context, id string) (store.Client, error) {
	if id == "" {
		return store.Client{}, store.ErrNotFound
	}
	ttl := p.ClientCacheTTL
	if ttl == 0 {
		ttl = defaultClientCacheTTL
	}
	if c, ok := p.clients.get(id, p.now(), ttl); ok {
		return c, nil
	}
	c, err := p.Store.Clients().Get(ctx, id)
	if err != nil {
		return store.Client{}, err
	}
	if ttl > 0 {
		p.clients.put(c, p.now(), ttl)
	}
	return c, nil
}

// defaultClientCacheTTL: how long a client record read from the store is
// reused. A client changed or deleted on another replica takes effect here
// within it; it saves a database read on every token request.
const defaultClientCacheTTL = time.Second

// clientCache keeps recently read client records (never a miss, so a new
// registration is seen at once).
type clientCache struct {
	mu sync.RWMutex
	m  map[string]cachedClient
	// sweepAt is the size at which put next drops the entries past their
	// time: twice what was left at the last sweep, so sweeps cost O(1) a
	// put, and the cache holds about what was read within its TTL rather
	// than every client read since the start (registered ones up to 64
	// KiB each, as many as anyone registers).
	sweepAt int
}

// minClientSweep is the smallest size at which the client cache sweeps.
const minClientSweep = 64

type cachedClient struct {
	c  store.Client
	at time.Time
}

func (cc *clientCache) get(id string, now time.Time, ttl time.Duration) (store.Client, bool) {
	if ttl <= 0 {
		return store.Client{}, false
	}
	cc.mu.RLock()
	e, ok := cc.m[id]
	cc.mu.RUnlock()
	if !ok || now.Sub(e.at) >= ttl || now.Before(e.at) {
		return store.Client{}, false
	}
	return e.c, true
}

func (cc *clientCache) put(c store.Client, now time.Time, ttl time.Duration) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.m == nil {
		cc.m = map[string]cachedClient{}
	}
	if len(cc.m) >= max(cc.sweepAt, minClientSweep) {
		for k, e := range cc.m {
			if now.Sub(e.at) >= ttl || now.Before(e.at) {
				delete(cc.m, k)
			}
		}
		cc.sweepAt = 2 * len(cc.m)
	}
	if len(cc.m) >= maxCachedSecrets {
		for k := range cc.m {
			delete(cc.m, k)
			break
		}
	}
	cc.m[c.ClientID] = cachedClient{c: c, at: now}
}

// matchRedirect returns the registered redirect URI that given matches:
// byte for byte, or — for an http loopback URI (RFC 8252 §7.3) — with only
// the port differing.
func matchRedirect(registered []string, given string) bool {
	for _, r := range registered {
		if r == given {
			return true
		}
	}
	g, err := url.Parse(given)
	if err != nil || g.Scheme != "http" || !isLoopbackHost(g.Hostname()) || g.User != nil || g.Fragment != "" {
		return false
	}
	for _, r := range registered {
		u, err := url.Parse(r)
		if err != nil || u.Scheme != "http" || u.User != nil {
			continue
		}
		if u.Hostname() == g.Hostname() && u.EscapedPath() == g.EscapedPath() && u.RawQuery == g.RawQuery &&
			g.Port() != "" {
			return true
		}
	}
	return false
}

// isLoopbackHost: the loopback literals, and "localhost", which OAuth 2.1
// discourages but MCP clients in the wild use.
func isLoopbackHost(h string) bool {
	switch h {
	case "127.0.0.1", "::1", "localhost":
		return true
	}
	return false
}

// authClient authenticates the client of a token, revocation or
// introspection request (RFC 6749 §2.3): client_secret_basic,
// client_secret_post, or none for a public client naming itself with
// client_id. It returns the method used.
func (p *Provider) authClient(ctx context.Context, r *http.Request, form map[string][]string) (store.Client, string, *Error) {
	get := func(k string) string {
		if v := form[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	id, secret, basic := r.BasicAuth()
	if basic {
		// RFC 6749 §2.3.1: both parts are form-urlencoded before Basic.
		var e1, e2 error
		id, e1 = url.QueryUnescape(id)
		secret, e2 = url.QueryUnescape(secret)
		if e1 != nil || e2 != nil || id == "" {
			return store.Client{}, "", &Error{Code: "invalid_client", Description: "malformed Basic credentials", basic: true}
		}
		if get("client_secret") != "" {
			return store.Client{}, "", errInvalidRequest("use one client authentication method, not two")
		}
		if body := get("client_id"); body != "" && body != id {
			return store.Client{}, "", errInvalidRequest("client_id differs from the authenticated client")
		}
	} else if a := r.Header.Get("Authorization"); a != "" {
		scheme, cred, _ := strings.Cut(strings.TrimSpace(a), " ")
		if cred == "" {
			// A lone value is no scheme to answer in: it may be a
			// credential sent bare, which the challenge would echo.
			scheme = ""
		}
		return store.Client{}, "", &Error{Code: "invalid_client", scheme: scheme,
			Description: "the Authorization header is no client authentication this server takes: use client_secret_basic or client_secret_post"}
	}
	method := authBasic
	if !basic {
		id, secret = get("client_id"), get("client_secret")
		method = authPost
		if secret == "" {
			method = authNone
		}
	}
	if get("client_assertion") != "" || get("client_assertion_type") != "" {
		return store.Client{}, "", errInvalidClient("client assertions are not supported")
	}
	if id == "" {
		return store.Client{}, "", errInvalidClient("client authentication is required")
	}
	fail := func(desc string) *Error {
		return &Error{Code: "invalid_client", Description: describe(desc), basic: basic}
	}
	c, err := p.client(ctx, id)
	if errors.Is(err, errClientIDTooLong) {
		// No client has such an ID (client looked nothing up): refused
		// without counting a failure.
		return store.Client{}, "", fail(fmt.Sprintf("client_id is longer than %d bytes", maxClientIDLen))
	}
	if errors.Is(err, store.ErrNotFound) {
		// Client IDs are not secrets: an unknown or disabled client is
		// refused at once, without hashing anything. A secret sent with it
		// counts against the address.
		if secret != "" {
			reason := "unknown_client"
			if errors.Is(err, errClientDisabled) {
				reason = "disabled"
			}
			if e := p.clientAuthFailure(ctx, r, id, reason); e != nil {
				return store.Client{}, "", e
			}
		}
		return store.Client{}, "", fail("client authentication failed")
	}
	if err != nil {
		return store.Client{}, "", errServer(err)
	}
	if !c.Confidential() {
		if method != authNone {
			return store.Client{}, "", fail("client authentication failed")
		}
		return c, authNone, nil
	}
	if method == authNone {
		return store.Client{}, "", fail("client authentication is required")
	}
	if m := c.TokenEndpointAuthMethod; m != "" && m != method {
		return store.Client{}, "", fail("the client registered token_endpoint_auth_method " + m)
	}
	ok, e := p.checkClientSecret(ctx, r, c, secret)
	if e != nil {
		return store.Client{}, "", e
	}
	if !ok {
		return store.Client{}, "", fail("client authentication failed")
	}
	return c, method, nil
}

// grantRefused refuses a grant type the client did not register (RFC 7591
// grant_types). A client without registered grant types — every tenant-file
// and admin-command client — keeps the grants of its kind, which each grant
// checks: authorization_code and refresh_token for all but service,
// client_credentials for service and agent, token exchange for agent.
// Unknown grant types are left to the token endpoint's own answer.
func grantRefused(c store.Client, grantType string) *Error {
	switch grantType {
	case grantCode, grantRefresh, grantClientCredentials, grantTokenExchange:
	default:
		return nil
	}
	if len(c.GrantTypes) == 0 || slices.Contains(c.GrantTypes, grantType) {
		return nil
	}
	return errUnauthorizedClient("the client is not registered for the grant type %s", grantType)
}

// Client secrets Gatehouse generates itself (dynamic registration) are 256
// random bits: no rate of guessing can find one, so they are stored as a
// SHA-256 digest, "$sha256$" and base64url, and checked at the cost of one
// hash. Secrets people choose (tenant file, admin commands) stay argon2id.
const secretDigestPrefix = "$sha256$"

func secretDigest(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return secretDigestPrefix + base64.RawURLEncoding.EncodeToString(sum[:])
}

// Failed client authentications are counted in the database, like failed
// logins, in the login throttle window: per client and address (with
// MaxFailuresPerUser) and per address across clients (MaxFailuresPerIP);
// an IPv6 address by its /64, as throttleKey keeps every address counter.
// Never per client alone: anyone who knows a client ID could then lock the
// client out, its right secret refused with the guesses (and permission
// slips, which HTTP API tools introspect as service clients, with it).
func clientKey(id string, ip netip.Addr) string { return "client:id:" + throttleKey(ip) + " " + id }
func clientIPKey(ip netip.Addr) string          { return "client:ip:" + throttleKey(ip) }

// checkClientSecret checks the secret of a confidential client. A generated
// secret (SHA-256) is checked first and its right value always passes: it
// cannot be guessed; its failures still count. A chosen secret (argon2id)
// is refused unchecked while the request's address is throttled, at this
// client or at all, as a password is: guesses from that address learn
// nothing more, while the right secret from any other address — the
// client's own — still passes. A guesser with many addresses gets
// MaxFailuresPerUser guesses per address and window, each at an argon2id
// check, against a secret of 32 characters or more (what the tenant file
// and the admin commands require).
// A secret that verified before is remembered (secretCache), so the right
// one costs no argon2 and no write; a miss counts the attempt before
// argon2 runs, so parallel guesses all count, and a success forgives it.
func (p *Provider) checkClientSecret(ctx context.Context, r *http.Request, c store.Client, secret string) (bool, *Error) {
	if strings.HasPrefix(c.SecretHash, secretDigestPrefix) {
		if equalSecret(secretDigest(secret), c.SecretHash) {
			return true, nil
		}
		return false, p.clientAuthFailure(ctx, r, c.ClientID, "bad_secret")
	}
	id, now, ip := p.Store.Identity(), p.now(), p.clientIP(r)
	ck, ik := clientKey(c.ClientID, ip), clientIPKey(ip)
	maxC, maxI := orDefault(p.MaxFailuresPerUser, 10), orDefault(p.MaxFailuresPerIP, 100)
	nc, err1 := id.Attempts(ctx, ck, now)
	ni, err2 := id.Attempts(ctx, ik, now)
	if err := errors.Join(err1, err2); err != nil {
		return false, errServer(err)
	}
	if nc >= maxC || ni >= maxI {
		return false, nil // throttled: recorded when the limit was reached
	}
	if known, match := p.secrets.lookup(c.ClientID, c.SecretHash, secret); known {
		if match {
			return true, nil
		}
		// Not the secret that verified against this very hash: wrong,
		// without argon2.
		return false, p.clientAuthFailure(ctx, r, c.ClientID, "bad_secret")
	}
	win := p.window()
	nc, err1 = id.CountAttempt(ctx, ck, now, win)
	ni, err2 = id.CountAttempt(ctx, ik, now, win)
	if err := errors.Join(err1, err2); err != nil {
		return false, errServer(err)
	}
	if nc > maxC || ni > maxI {
		return false, nil // parallel attempts went over the limit
	}
	// argon2id runs under the same bound as sign-ins' (verifyPassword):
	// wrong secrets sent from many addresses at once cannot exhaust the
	// memory either.
	good, err := p.verifyPassword(ctx, secret, c.SecretHash)
	if errors.Is(err, errPasswordChecksBusy) {
		// Audited as a sign-in refused so is (login.failed, reason busy).
		p.recordClientFailure(ctx, r, c.ClientID, reasonBusy, nc, ni)
		return false, errTemporarilyUnavailable("too many client authentications at once; try again in a moment")
	}
	if err != nil {
		p.log().ErrorContext(ctx, "client secret hash unusable", "client_id", c.ClientID, "err", err)
	}
	if err == nil && good {
		p.secrets.remember(c.ClientID, c.SecretHash, secret)
		if err := errors.Join(id.ForgiveAttempt(ctx, ck), id.ForgiveAttempt(ctx, ik)); err != nil {
			p.log().WarnContext(ctx, "forgive client attempt", "err", err)
		}
		return true, nil
	}
	p.recordClientFailure(ctx, r, c.ClientID, "bad_secret", nc, ni)
	return false, nil
}

// clientAuthFailure counts a failed authentication (per address, and per
// client and address unless the client is unknown) and records it. reason
// is unknown_client, disabled or bad_secret (a busy check, counted before
// it, is recorded by recordClientFailure alone). An error only when the
// count could not be written.
func (p *Provider) clientAuthFailure(ctx context.Context, r *http.Request, clientID, reason string) *Error {
	win, ip := p.window(), p.clientIP(r)
	maxC, maxI := orDefault(p.MaxFailuresPerUser, 10), orDefault(p.MaxFailuresPerIP, 100)
	ck, ik := clientKey(clientID, ip), clientIPKey(ip)
	if reason == "disabled" {
		// No secret was checked: a disabled client's refusals (its own
		// retries, mostly) are no guesses, and counted with them they
		// would refuse its right secret for the rest of the window once
		// it is enabled again. Counted apart, they bound its records as
		// much.
		ck, ik = "disabled:"+ck, "disabled:"+ik
	}
	ni, err := p.countUnlessPast(ctx, ik, maxI, win)
	if err != nil {
		return errServer(err)
	}
	nc := -1
	if reason != "unknown_client" {
		if nc, err = p.countUnlessPast(ctx, ck, maxC, win); err != nil {
			return errServer(err)
		}
	}
	p.recordClientFailure(ctx, r, clientID, reason, nc, ni)
	return nil
}

// recordClientFailure writes a failed client authentication to the audit
// trail: each one while the counts of the client (from this address) and
// of the address are within their limits, and the one that reaches a
// limit as "throttled". Failures beyond a limit, and those of unknown
// clients, are counted but not written, so that a flood cannot grow the
// trail without bound. failures_client counts the client's failures from
// this address.
func (p *Provider) recordClientFailure(ctx context.Context, r *http.Request, clientID, reason string, nc, ni int) {
	maxC, maxI := orDefault(p.MaxFailuresPerUser, 10), orDefault(p.MaxFailuresPerIP, 100)
	detail := map[string]any{"reason": reason, "endpoint": r.URL.Path}
	switch {
	case nc == maxC || ni == maxI:
		detail["reason"], detail["cause"] = "throttled", reason
		detail["failures_client"], detail["failures_address"] = max(nc, 0), ni
	case nc < 0 || nc > maxC || ni > maxI:
		return
	}
	_ = p.record(ctx, audit.Event{Type: audit.ClientAuthFailed, Agent: truncate(clientID, 512), Status: "refused",
		RemoteAddr: addrString(p.clientIP(r)), Detail: detail}) // a refusal: logged if unrecorded
}

// secretCache remembers, per client, the SHA-256 of a secret that verified
// against the client's current argon2id hash, so that client_credentials
// pays argon2 once per secret rather than once per token. Entries are tied
// to the hash they were verified against: a changed secret in the store
// invalidates them. Only digests of secrets that already verified are kept.
type secretCache struct {
	mu sync.RWMutex
	m  map[string]cachedSecret
}

type cachedSecret struct {
	phc string
	sum [32]byte
}

// maxCachedSecrets bounds the cache; beyond it an arbitrary entry goes.
const maxCachedSecrets = 10000

// lookup reports whether a secret verified against phc is remembered for
// the client, and whether secret is that one.
func (c *secretCache) lookup(clientID, phc, secret string) (known, match bool) {
	sum := sha256.Sum256([]byte(secret))
	c.mu.RLock()
	e, ok := c.m[clientID]
	c.mu.RUnlock()
	if !ok || e.phc != phc {
		return false, false
	}
	return true, subtle.ConstantTimeCompare(e.sum[:], sum[:]) == 1
}

// remember keeps the digest of a secret that verified against phc.
func (c *secretCache) remember(clientID, phc, secret string) {
	sum := sha256.Sum256([]byte(secret))
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]cachedSecret{}
	}
	if len(c.m) >= maxCachedSecrets {
		for k := range c.m {
			delete(c.m, k)
			break
		}
	}
	c.m[clientID] = cachedSecret{phc: phc, sum: sum}
}

var (
	dummyMu sync.Mutex
	dummies = map[password.Params]string{}
)

// dummyHash is a hash of nothing anyone knows, made with the provider's
// parameters, verified against when the user or client does not exist so
// that the answer takes as long. It is made once per parameters in the
// process (tests mount many providers).
func (p *Provider) dummyHash() string {
	params := p.passwordParams()
	dummyMu.Lock()
	defer dummyMu.Unlock()
	if h, ok := dummies[params]; ok {
		return h
	}
	h, err := password.HashWith(randomToken(""), params)
	if err == nil {
		dummies[params] = h
	}
	return h
}

// passwordParams is PasswordParams, or password.DefaultParams.
func (p *Provider) passwordParams() password.Params {
	if p.PasswordParams != nil {
		return *p.PasswordParams
	}
	return password.DefaultParams
}
