package identity

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/internal/password"
	"github.com/gatehouse/gatehouse/internal/store"
)

// client returns the client with the ID: a tenant or registered client from
// the store, or, for an https URL, the client its metadata document
// describes. store.ErrNotFound (wrapped) when there is none.
func (p *Provider) client(ctx context.Context, id string) (store.Client, error) {
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
	if err == nil && c.Source != store.SourceMetadata {
		if ttl > 0 {
			p.clients.put(c, p.now())
		}
		return c, nil
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.Client{}, err
	}
	if !isMetadataClientID(id) {
		return store.Client{}, err
	}
	return p.metadataClient(ctx, id)
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
}

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

func (cc *clientCache) put(c store.Client, now time.Time) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.m == nil {
		cc.m = map[string]cachedClient{}
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
	} else if r.Header.Get("Authorization") != "" {
		return store.Client{}, "", errInvalidClient("unsupported authentication scheme")
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
		return &Error{Code: "invalid_client", Description: desc, basic: basic}
	}
	c, err := p.client(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		// Spend the time a secret check would, so unknown IDs are not
		// told apart by timing.
		if secret != "" {
			password.Verify(secret, dummyHash())
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
	if !p.secrets.verify(c.ClientID, c.SecretHash, secret) {
		return store.Client{}, "", fail("client authentication failed")
	}
	return c, method, nil
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

func (c *secretCache) verify(clientID, phc, secret string) bool {
	sum := sha256.Sum256([]byte(secret))
	c.mu.RLock()
	e, ok := c.m[clientID]
	c.mu.RUnlock()
	if ok && e.phc == phc && subtle.ConstantTimeCompare(e.sum[:], sum[:]) == 1 {
		return true
	}
	// A miss, or a secret other than the cached one, pays the full argon2
	// cost: the cache speeds up the right secret, never guessing.
	good, err := password.Verify(secret, phc)
	if err != nil || !good {
		return false
	}
	c.mu.Lock()
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
	c.mu.Unlock()
	return true
}

var (
	dummyOnce sync.Once
	dummy     string
)

// dummyHash is a hash of nothing anyone knows, verified against when the
// user or client does not exist so that the answer takes as long.
func dummyHash() string {
	dummyOnce.Do(func() {
		dummy, _ = password.Hash(randomToken(""))
	})
	return dummy
}
