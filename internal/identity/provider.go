package identity

// Design note. Provider is the handler struct the composition root fills
// in; its exported fields are its dependencies and options (zero = default).
// Every route it owns is registered by Mount with a method pattern under the
// issuer's path. State that must hold across replicas (sessions, codes,
// refresh tokens and their families, revocations, consents, login-attempt
// counters, single use) lives in the store; the process keeps only caches:
// verified client secrets (as SHA-256) and fetched client metadata documents,
// and the federation connections the composition root hands it (again when
// they change: SetConnections).

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/password"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/sqldb"
)

// Store is what the provider needs of the store; *sqldb.DB satisfies it.
type Store interface {
	Users() store.Collection[store.User]
	Clients() store.Collection[store.Client]
	store.Consumer
	Identity() store.Identity
	// InTx serves a federated sign-in, which stores its person in the
	// transaction that checks, under the tenant's lock, that the roles it
	// gives them exist (federatedUser).
	InTx(ctx context.Context, fn func(tx store.Tenant) error) error
	// UnusedClients looks for clients Purge would remove (UnusedClientTTL)
	// before it opens a transaction to remove them.
	UnusedClients(ctx context.Context, createdBefore time.Time, limit int) ([]string, error)
}

var _ Store = (*sqldb.DB)(nil)

// Provider is the OAuth 2.1 authorization server and OpenID provider of one
// tenant. Fill in the fields, then call Mount; do not change or copy it
// afterwards. It is safe for concurrent use.
type Provider struct {
	// Issuer is the issuer identifier, e.g. "http://127.0.0.1:8080": used
	// byte for byte in discovery and tokens; endpoints live under it.
	Issuer string
	// Store keeps users, clients and the provider's own records.
	Store Store
	// Keys signs ID tokens (RS256, or the client's
	// id_token_signed_response_alg) and access tokens (via accesstoken.Mint).
	Keys *keys.Manager
	// Audit receives every login, logout, consent, registration and token
	// event. Nil discards them (tests only).
	Audit audit.Recorder
	// Logger is for operational messages; nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Introspect, when set, is asked first by /introspect: it handles
	// permission slips (single use: consumed on first introspection).
	// service says the caller is a service client. ok=false means "not
	// mine, continue"; ok with a nil resp, that the token is the hook's
	// but it could not decide (its store failed): a server error.
	Introspect func(ctx context.Context, token, callerClientID string, service bool) (resp map[string]any, ok bool)
	// MCPResource is the resource URI of the MCP endpoint: the default
	// audience of access tokens and an accepted RFC 8707 resource. Zero
	// means Issuer + "/mcp".
	MCPResource string

	// Resources are further resource URIs a client may ask a token for
	// (RFC 8707); MCPResource is always accepted. Zero means none.
	Resources []string
	// SoleResources, of Resources, are granted alone: a request naming
	// one of them with another resource is refused (invalid_target), so
	// that no grant, and no token, for one of them (the admin API) serves
	// anywhere else: an agent's token for /mcp never doubles as an
	// admin's, nor can its refresh token be narrowed to one.
	SoleResources []string
	// ResourceText says, on the consent page, what a token for each of
	// Resources lets a client do as the person ("read and change …");
	// one without is shown as acting as the person at its URI.
	ResourceText map[string]string
	// Scopes are further scopes advertised and granted besides openid,
	// profile, email and offline_access. Zero means none.
	Scopes []string
	// AccessTokenTTL is the lifetime of access and ID tokens; zero means
	// 10 minutes.
	AccessTokenTTL time.Duration
	// RefreshTokenTTL is how long an unused refresh token stays valid; zero
	// means 14 days.
	RefreshTokenTTL time.Duration
	// GrantTTL bounds a refresh-token family from its first token; zero
	// means 90 days.
	GrantTTL time.Duration
	// CodeTTL is the lifetime of an authorization code; zero (and anything
	// above it) means 60 seconds.
	CodeTTL time.Duration
	// SessionTTL is the lifetime of a login session; zero means 12 hours.
	SessionTTL time.Duration
	// SessionIdleTimeout ends a login session that has gone unused this
	// long, before SessionTTL: the person is asked to sign in again, and
	// the grants it gave without offline_access end with it. A use is a
	// request of the browser that finds the session (a page of the
	// provider or of the dashboard), recorded in the store at most every
	// few minutes (sessionUseRecorded), so a session ends between that
	// much less than the timeout and the timeout after its last use. An
	// app of the sign-in refreshing its tokens is a use too (signInUsed):
	// an agent at work for the person keeps the sign-in alive.
	// Zero means 1 hour; negative turns the idle timeout off.
	SessionIdleTimeout time.Duration
	// TrustedProxies are the addresses whose X-Forwarded-For is believed.
	// Zero means none: the peer address is the client's.
	TrustedProxies []netip.Prefix
	// MaxFailuresPerUser and MaxFailuresPerIP are the login attempts
	// allowed per ThrottleWindow before further ones are refused; zero
	// means 10 and 100. ThrottleWindow zero means 15 minutes. The same
	// limits apply to failed client authentications at the token,
	// introspection and revocation endpoints, per client and per address.
	MaxFailuresPerUser int
	MaxFailuresPerIP   int
	ThrottleWindow     time.Duration
	// MaxSignInsPerUser bounds a person's password sign-ins that succeed
	// per ThrottleWindow (each an argon2id check); zero means 30. Past it
	// their sign-ins are refused as throttled until the window ends.
	MaxSignInsPerUser int
	// RegistrationsPerIP limits dynamic client registrations per client
	// address and hour; zero means 100.
	RegistrationsPerIP int
	// DisableRegistration turns dynamic client registration (RFC 7591) off.
	DisableRegistration bool
	// UnusedClientTTL is how long a client that added itself (dynamic
	// registration, a client ID metadata document) is kept while nothing
	// at the provider names it: no consent, no refresh token, no
	// authorization code. Purge then removes it as an administrator's
	// removal does (store.Tenant.PruneClients) and records each batch it
	// removes (audit.ClientsPruned). A client a person signed in through
	// holds their consent, and stays while it does; one an administrator
	// disabled stays too. Zero means 24 hours; negative keeps such clients
	// for ever.
	UnusedClientTTL time.Duration
	// AllowPrivateMetadataHosts lets client ID metadata documents be
	// fetched from loopback, private and link-local addresses (tests and
	// closed networks). Zero refuses them.
	AllowPrivateMetadataHosts bool
	// MetadataFetchesPerIP limits the client ID metadata documents
	// fetched for requests from one client address (IPv6: its /64) per
	// ThrottleWindow: each unknown URL client_id costs an outbound request
	// and a client record. Zero means 30.
	MetadataFetchesPerIP int
	// MetadataFetchTimeout bounds one metadata document fetch (connect,
	// TLS, headers and body); zero means 5 seconds.
	MetadataFetchTimeout time.Duration
	// Connections are upstream OpenID providers people may sign in with
	// (federation); each is a button on the login page. Zero means none.
	// SetConnections replaces them while the provider serves.
	Connections []*Connection
	// StoredRoles, when set, reads from tx how the named connection gives
	// roles as the tenant stores it now (nil: the connection is no longer
	// stored). A federated sign-in calls it under the tenant's lock and
	// gives the roles it says, not those of the Connection it signs in
	// with, which may be older than a role removed and created again.
	StoredRoles func(ctx context.Context, tx store.Tenant, connection string) (*ConnectionRoles, error)
	// ClientCacheTTL is how long a client record read from the store is
	// reused before it is read again (a change made on another replica
	// takes effect within it); zero means 1 second, negative turns the
	// cache off.
	ClientCacheTTL time.Duration
	// MetadataRootCAs are the roots trusted when fetching client ID
	// metadata documents; nil means the system roots.
	MetadataRootCAs *x509.CertPool
	// MaxPasswordChecks bounds the password and client-secret checks
	// running at once: each is an argon2id computation (about 19 MiB and
	// 50 ms at the default parameters), so a burst of sign-ins would
	// otherwise take as much memory as it has requests. One that finds
	// every check busy waits a moment for one (with its request's
	// context), then is answered 503 "too many sign-ins at once" (a client
	// authentication: temporarily_unavailable). The bound holds for the
	// whole process, which runs one Provider. Zero (or less) means
	// 2×GOMAXPROCS, about 38 MiB per CPU at the default parameters:
	// argon2id with one lane keeps one CPU busy, so many more at once
	// would add memory, not throughput.
	MaxPasswordChecks int
	// PasswordParams are the argon2id parameters of the hash an unknown
	// name is checked against, and that a person's hash made with others
	// (imported by a tenant file, or older than the defaults) is made
	// again with when they sign in with the right password: then every
	// name costs one check at these parameters, and timing does not tell
	// which exist. Nil means password.DefaultParams (tests use cheap ones).
	PasswordParams *password.Params

	once     sync.Once
	initErr  error
	base     string // Issuer without a trailing slash
	path     string // the issuer's path, without a trailing slash
	secure   bool   // https issuer: Secure cookies with the __Host- prefix
	scopeSet map[string]bool
	scopes   []string
	resSet   map[string]bool

	// cookieTag ends the cookies' names under an issuer with a path: a
	// digest of the path (cookieName), which may hold what a name may not.
	cookieTag string

	// conns are the connections in use: Connections, then those of
	// SetConnections.
	conns atomic.Pointer[[]*Connection]

	secrets secretCache
	clients clientCache
	cimd    metadataCache

	// pruneAfter is when Purge next looks for unused clients (Unix
	// nanoseconds): a minute after a look that left none.
	pruneAfter atomic.Int64

	pwChecks chan struct{} // one token per password check running (MaxPasswordChecks)
	pwWait   time.Duration // how long a sign-in waits for a check; zero means passwordCheckWait (tests shorten it)
}

const (
	defaultAccessTTL  = 10 * time.Minute
	defaultRefreshTTL = 14 * 24 * time.Hour
	defaultGrantTTL   = 90 * 24 * time.Hour
	maxCodeTTL        = 60 * time.Second
	defaultSessionTTL = 12 * time.Hour
	// defaultSessionIdle: an unattended browser stays signed in an hour
	// at most, whatever is left of its 12 hours.
	defaultSessionIdle = time.Hour
	// maxSessionUseRecorded is how stale the stored last use of a session
	// may get before a request that finds the session records it again.
	maxSessionUseRecorded = 5 * time.Minute
	defaultWindow         = 15 * time.Minute
)

// Standard scopes, always supported.
var standardScopes = []string{"openid", "profile", "email", "offline_access"}

// Check reports a configuration that cannot work. Mount panics with the same
// message, so the composition root may call Check first to fail cleanly.
func (p *Provider) Check() error {
	p.once.Do(p.init)
	return p.initErr
}

func (p *Provider) init() {
	u, err := url.Parse(p.Issuer)
	switch {
	case p.Issuer == "":
		p.initErr = errors.New("identity: Issuer is empty")
	case err != nil:
		p.initErr = fmt.Errorf("identity: Issuer: %w", err)
	case u.Scheme != "https" && u.Scheme != "http", u.Host == "", u.RawQuery != "", u.Fragment != "", u.User != nil:
		// RFC 8414 §2: an https URL with no query or fragment. http is
		// accepted for loopback and development deployments.
		p.initErr = fmt.Errorf("identity: Issuer %q must be an http(s) URL with no query or fragment", p.Issuer)
	case p.Store == nil:
		p.initErr = errors.New("identity: Store is nil")
	case p.Keys == nil:
		p.initErr = errors.New("identity: Keys is nil")
	}
	if p.initErr != nil {
		return
	}
	n := p.MaxPasswordChecks
	if n <= 0 {
		n = 2 * runtime.GOMAXPROCS(0)
	}
	p.pwChecks = make(chan struct{}, n)
	p.base = strings.TrimSuffix(p.Issuer, "/")
	p.path = strings.TrimSuffix(u.Path, "/")
	p.secure = u.Scheme == "https"
	if p.path != "" {
		sum := sha256.Sum256([]byte(p.path))
		p.cookieTag = "_" + hex.EncodeToString(sum[:6])
	}
	if p.MCPResource == "" {
		p.MCPResource = p.base + "/mcp"
	}
	p.resSet = map[string]bool{p.MCPResource: true}
	for _, r := range p.Resources {
		if err := checkResourceURI(r); err != nil {
			p.initErr = fmt.Errorf("identity: resource %q: %w", r, err)
			return
		}
		p.resSet[r] = true
	}
	for _, r := range p.SoleResources {
		if !p.resSet[r] {
			p.initErr = fmt.Errorf("identity: sole resource %q is not one of Resources", r)
			return
		}
	}
	if p.initErr = checkConnections(p.Connections); p.initErr != nil {
		return
	}
	cs := slices.Clone(p.Connections)
	p.conns.Store(&cs)
	p.scopeSet = map[string]bool{}
	for _, s := range append(append([]string{}, standardScopes...), p.Scopes...) {
		if !validScopeToken(s) {
			p.initErr = fmt.Errorf("identity: scope %q is not a valid scope token", s)
			return
		}
		if !p.scopeSet[s] {
			p.scopeSet[s] = true
			p.scopes = append(p.scopes, s)
		}
	}
}

// Mount registers every route the provider owns on mux. It panics when
// Check reports an error.
func (p *Provider) Mount(mux *http.ServeMux) {
	if err := p.Check(); err != nil {
		panic(err)
	}
	// The hash an unknown user's or client's password is checked against
	// is made now, not by the first such sign-in, which would take twice
	// as long as a known user's and tell that the name is unknown.
	p.dummyHash()
	at := func(pattern string, h http.HandlerFunc) {
		method, path, _ := strings.Cut(pattern, " ")
		mux.HandleFunc(method+" "+p.path+path, p.withClientIP(h))
	}
	// Discovery: RFC 8414 puts the issuer's path after the well-known
	// segment; OpenID Connect Discovery appends the well-known path.
	asMeta := "/.well-known/oauth-authorization-server" + p.path
	mux.HandleFunc("GET "+asMeta, cors(p.handleMetadata))
	mux.HandleFunc("OPTIONS "+asMeta, preflight)
	at("GET /.well-known/openid-configuration", cors(p.handleMetadata))
	at("OPTIONS /.well-known/openid-configuration", preflight)
	at("GET "+pathJWKS, cors(p.handleJWKS))
	at("OPTIONS "+pathJWKS, preflight)

	at("GET "+pathAuthorize, p.handleAuthorize)
	at("POST "+pathAuthorize, p.handleAuthorize)
	at("GET "+pathLogin, p.handleLoginPage)
	at("GET "+pathSignedIn, p.handleSignedIn)
	at("POST "+pathLogin, p.handleLogin)
	at("POST "+pathConsent, p.handleConsent)
	at("GET "+pathLogin+"/{conn}", p.handleFederatedStartLink)
	at("POST "+pathLogin+"/{conn}", p.handleFederatedStart)
	at("GET "+pathLogin+"/{conn}/callback", p.handleFederatedCallback)
	at("GET "+pathLogout, p.handleLogout)
	at("POST "+pathLogout, p.handleLogout)

	for path, h := range map[string]http.HandlerFunc{
		pathToken:      p.handleToken,
		pathRevoke:     p.handleRevoke,
		pathIntrospect: p.handleIntrospect,
		pathRegister:   p.handleRegister,
	} {
		at("POST "+path, cors(h))
		at("OPTIONS "+path, preflight)
	}
	at("GET "+pathUserinfo, cors(p.handleUserinfo))
	at("POST "+pathUserinfo, cors(p.handleUserinfo))
	at("OPTIONS "+pathUserinfo, preflight)
}

// Endpoint paths under the issuer. Clients find them through discovery.
const (
	pathAuthorize  = "/authorize"
	pathLogin      = "/login"
	pathSignedIn   = "/signed-in" // where a sign-in with nothing to continue to lands
	pathConsent    = "/consent"
	pathLogout     = "/logout"
	pathToken      = "/token"
	pathRevoke     = "/revoke"
	pathIntrospect = "/introspect"
	pathRegister   = "/register"
	pathUserinfo   = "/userinfo"
	pathJWKS       = "/jwks.json"
)

func (p *Provider) url(path string) string { return p.base + path }

func (p *Provider) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

var discardLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

func (p *Provider) log() *slog.Logger {
	if p.Logger != nil {
		return p.Logger
	}
	return discardLogger
}

func (p *Provider) accessTTL() time.Duration  { return orDefault(p.AccessTokenTTL, defaultAccessTTL) }
func (p *Provider) refreshTTL() time.Duration { return orDefault(p.RefreshTokenTTL, defaultRefreshTTL) }
func (p *Provider) grantTTL() time.Duration   { return orDefault(p.GrantTTL, defaultGrantTTL) }
func (p *Provider) sessionTTL() time.Duration { return orDefault(p.SessionTTL, defaultSessionTTL) }
func (p *Provider) window() time.Duration     { return orDefault(p.ThrottleWindow, defaultWindow) }

// sessionIdle is the idle timeout of login sessions; ok is false when it
// is off.
func (p *Provider) sessionIdle() (d time.Duration, ok bool) {
	d = orDefault(p.SessionIdleTimeout, defaultSessionIdle)
	return d, d > 0
}

// sessionUseRecorded is how old the stored last use of a session may be
// before a request that finds it writes a new one: a quarter of the idle
// timeout, five minutes at most. Most page views then write nothing.
func (p *Provider) sessionUseRecorded() time.Duration {
	d, ok := p.sessionIdle()
	if !ok {
		return maxSessionUseRecorded
	}
	return min(d/4, maxSessionUseRecorded)
}

func (p *Provider) codeTTL() time.Duration {
	if p.CodeTTL <= 0 || p.CodeTTL > maxCodeTTL {
		return maxCodeTTL
	}
	return p.CodeTTL
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// record writes an audit event. Events that let something through must be
// durable before the effect is acknowledged, so callers of a success event
// fail the request when record fails; failures are only logged.
func (p *Provider) record(ctx context.Context, e audit.Event) error {
	rec := p.Audit
	if rec == nil {
		rec = audit.Discard
	}
	if err := rec.Record(ctx, e); err != nil {
		if clientGone(ctx, err) {
			// Nobody waits for the answer any more: not a failure of ours.
			p.log().InfoContext(ctx, "client went away before its audit record was confirmed", "type", e.Type)
		} else {
			p.log().ErrorContext(ctx, "audit record failed", "type", e.Type, "err", err)
		}
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

// clientGone reports whether err is ctx's cancellation: the client closed
// the request (net/http cancels its context) while it was being served.
func clientGone(ctx context.Context, err error) bool {
	return errors.Is(err, context.Canceled) && errors.Is(ctx.Err(), context.Canceled)
}

// Purge forgets expired sessions, codes, refresh tokens, revocations,
// counters and single-use markers, then removes the clients that added
// themselves and were not used (UnusedClientTTL). The composition root
// calls it now and then (every few seconds); any replica may.
func (p *Provider) Purge(ctx context.Context) error {
	now := p.now()
	if _, err := p.Store.Identity().PurgeIdentity(ctx, now); err != nil {
		return err
	}
	if _, err := p.Store.PurgeConsumed(ctx, now); err != nil {
		return err
	}
	return p.pruneClients(ctx, now)
}

// ClientAddr is the address r came from, as the audit trail records it:
// behind a trusted proxy (TrustedProxies), the client's from
// X-Forwarded-For; "" when it cannot be read.
func (p *Provider) ClientAddr(r *http.Request) string { return addrString(p.clientIP(r)) }

// clientIP is the address of the client: the peer, or, when the peer is a
// trusted proxy, the right-most X-Forwarded-For address that is not one.
func (p *Provider) clientIP(r *http.Request) netip.Addr {
	addr := parseAddr(r.RemoteAddr)
	if !p.trusted(addr) {
		return addr
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(v, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return addr // a hop we cannot read: stop at the last one we trust
		}
		addr = a.Unmap()
		if !p.trusted(addr) {
			return addr
		}
	}
	return addr
}

func (p *Provider) trusted(a netip.Addr) bool {
	for _, pr := range p.TrustedProxies {
		if pr.Contains(a) {
			return true
		}
	}
	return false
}

func parseAddr(remote string) netip.Addr {
	if ap, err := netip.ParseAddrPort(remote); err == nil {
		return ap.Addr().Unmap()
	}
	if a, err := netip.ParseAddr(remote); err == nil {
		return a.Unmap()
	}
	return netip.Addr{}
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// cors lets browser-based clients (MCP inspectors, SPAs using oauth4webapi)
// call the endpoints that take no cookies. "*" never carries credentials.
// It is sent whether or not the request names an Origin: discovery and
// JWKS may be kept by a shared cache, and the copy a request without one
// left there is what a browser's request gets next.
func cors(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Header().Set("Access-Control-Expose-Headers", "WWW-Authenticate")
		h(w, r)
	}
}

func preflight(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, DPoP, MCP-Protocol-Version")
	h.Set("Access-Control-Max-Age", "86400")
	w.WriteHeader(http.StatusNoContent)
}
