package identity

// Client ID metadata documents (draft-ietf-oauth-client-id-metadata-document,
// adopted by the MCP authorization spec): a client_id that is an https URL
// names a JSON document, fetched from that URL, describing the client. The
// fetch is a request the server makes on behalf of anyone, so it is guarded
// against SSRF: the resolved address must be public (unless the operator
// allows otherwise), redirects are not followed, the body and the time are
// bounded, and no proxy is used. It is also something anyone can make the
// server do, and each new URL leaves a client record: fetches are counted
// per requesting address in the database before they are made (like login
// attempts), a refused document is remembered for a minute, and a newly
// stored metadata client is audited as a registration.

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/store"
)

const (
	metadataMaxBytes    = 5 << 10 // the draft suggests 5 KB
	metadataTimeout     = 5 * time.Second
	metadataMinTTL      = time.Minute
	metadataMaxTTL      = 24 * time.Hour
	metadataDefTTL      = 5 * time.Minute
	metadataMaxCache    = 1000
	metadataFailTTL     = time.Minute // a refused document is not fetched again before
	defaultFetchesPerIP = 30
)

// maxClientIDLen caps the length of a client_id wherever one is taken: a
// longer one is refused before the store is asked, a metadata document is
// fetched, a log line is written or a cache entry is made. Without it, an
// https client_id of any length was fetched, logged and cached. 2000 bytes
// is the URL length long held to pass every browser and proxy (a metadata
// client_id travels inside the authorization request's URL), far above the
// tenant file's 128 and the IDs registration hands out.
const maxClientIDLen = 2000

// errClientIDTooLong: the client_id is longer than maxClientIDLen. It wraps
// store.ErrNotFound, so a caller that does not tell it apart refuses it
// like an unknown client.
var errClientIDTooLong = fmt.Errorf("%w: client_id is longer than %d bytes", store.ErrNotFound, maxClientIDLen)

func (p *Provider) metadataTimeout() time.Duration {
	return orDefault(p.MetadataFetchTimeout, metadataTimeout)
}

// isMetadataClientID reports whether id is a URL client ID: https, a host,
// a path other than "/", no fragment, no credentials, no dot segments, and
// only printable ASCII (a URL percent-encodes the rest): the ID is shown
// on the consent page and in admins' listings, where a control character or
// a bidirectional override must not get in.
func isMetadataClientID(id string) bool {
	if !strings.HasPrefix(id, "https://") {
		return false
	}
	if !printableASCII(id) {
		return false
	}
	u, err := url.Parse(id)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.Fragment != "" ||
		strings.Contains(id, "#") || u.Path == "" || u.Path == "/" {
		return false
	}
	for _, seg := range strings.Split(u.Path, "/") {
		if seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

// metadataCache keeps fetched documents for their HTTP max-age (bounded),
// so an authorization and its token request fetch once.
type metadataCache struct {
	mu     sync.Mutex
	m      map[string]cachedMetadata
	client *http.Client
}

type cachedMetadata struct {
	c       store.Client
	err     error // set when the document was refused
	expires time.Time
}

// errMetadata wraps every reason a document is refused; callers treat it
// like an unknown client.
var errMetadata = errors.New("client metadata document refused")

func (p *Provider) metadataClient(ctx context.Context, id string) (store.Client, error) {
	now := p.now()
	p.cimd.mu.Lock()
	if e, ok := p.cimd.m[id]; ok && now.Before(e.expires) {
		p.cimd.mu.Unlock()
		if e.err != nil {
			return store.Client{}, e.err
		}
		return e.c, nil
	}
	p.cimd.mu.Unlock()

	// Counted before the request goes out, in the database, so parallel
	// requests and other replicas all count.
	ip, _ := ctx.Value(ctxClientIP{}).(netip.Addr)
	limit := orDefault(p.MetadataFetchesPerIP, defaultFetchesPerIP)
	n, err := p.countUnlessPast(ctx, "cimd:ip:"+throttleKey(ip), limit, p.window())
	if err != nil {
		return store.Client{}, err
	}
	if n > limit {
		// Only the refusal that reaches the limit is logged: a throttled
		// refusal is not remembered (cacheMetadata), so an address
		// naming a new client_id (up to 2,000 bytes) at every request
		// would otherwise write the log as fast as it sends them.
		if n == limit+1 {
			p.log().InfoContext(ctx, "client metadata fetch refused: too many from this address", "client_id", id,
				"remote_addr", addrString(ip))
		}
		return store.Client{}, fmt.Errorf("%w: %w: too many metadata fetches from %s", store.ErrNotFound, errMetadata, addrString(ip))
	}

	c, ttl, err := p.fetchMetadata(ctx, id)
	if err != nil && ctx.Err() != nil {
		// The requester went away mid-fetch: nothing was learnt of the
		// document, and nothing is remembered (else whoever hangs up
		// would keep a client refused for everybody).
		return store.Client{}, fmt.Errorf("%w: %w", store.ErrNotFound, err)
	}
	if err != nil {
		// The client chose the document and where it is: its mistake,
		// information rather than a warning.
		p.log().InfoContext(ctx, "client metadata document refused", "client_id", id, "err", err)
		err = fmt.Errorf("%w: %w", store.ErrNotFound, err)
		p.cacheMetadata(id, cachedMetadata{err: err, expires: now.Add(metadataFailTTL)})
		return store.Client{}, err
	}
	// Keep the client in the tenant, so it is listed and governed like the
	// others; only a change is written.
	c, err = p.keepMetadataClient(ctx, c, ip)
	if err != nil {
		return store.Client{}, err
	}
	p.cacheMetadata(id, cachedMetadata{c: c, expires: now.Add(ttl)})
	return c, nil
}

func (p *Provider) cacheMetadata(id string, e cachedMetadata) {
	p.cimd.mu.Lock()
	defer p.cimd.mu.Unlock()
	if p.cimd.m == nil {
		p.cimd.m = map[string]cachedMetadata{}
	}
	if len(p.cimd.m) >= metadataMaxCache {
		for k := range p.cimd.m {
			delete(p.cimd.m, k)
			break
		}
	}
	p.cimd.m[id] = e
}

// ctxClientIP carries the request's client address in its context, for
// the metadata fetch counter deep below the handlers.
type ctxClientIP struct{}

// withClientIP puts the client address into the request's context.
func (p *Provider) withClientIP(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h(w, r.WithContext(context.WithValue(r.Context(), ctxClientIP{}, p.clientIP(r))))
	}
}

// keepMetadataClient stores or refreshes a metadata client and returns the
// stored record (whose tool cap an administrator may have set, and whose
// creation time tells it from a removed one of the same ID). A new client
// is audited as a registration; it is not kept when that event cannot be
// recorded.
func (p *Provider) keepMetadataClient(ctx context.Context, c store.Client, ip netip.Addr) (store.Client, error) {
	old, err := p.Store.Clients().Get(ctx, c.ClientID)
	if errors.Is(err, store.ErrNotFound) {
		err = p.Store.Clients().Create(ctx, c)
		if err == nil {
			err = p.record(ctx, audit.Event{Type: audit.ClientRegistered, Agent: c.ClientID, Status: "ok",
				RemoteAddr: addrString(ip), Detail: map[string]any{"source": store.SourceMetadata,
					"client_name": c.Name, "redirect_uris": c.RedirectURIs, "grant_types": c.GrantTypes}})
			if err != nil {
				_ = p.Store.Clients().Delete(ctx, c.ClientID)
				return store.Client{}, err
			}
		} else if !errors.Is(err, store.ErrConflict) {
			return store.Client{}, err
		}
		// As stored (with its creation time), also when another
		// replica was first.
		old, err = p.Store.Clients().Get(ctx, c.ClientID)
	}
	if err != nil {
		return store.Client{}, err
	}
	if old.Source != store.SourceMetadata {
		return store.Client{}, fmt.Errorf("%w: client %q exists and is not a metadata client", store.ErrConflict, c.ClientID)
	}
	if old.Name == c.Name && slices.Equal(old.RedirectURIs, c.RedirectURIs) &&
		slices.Equal(old.PostLogoutRedirectURIs, c.PostLogoutRedirectURIs) &&
		slices.Equal(old.GrantTypes, c.GrantTypes) && old.TokenEndpointAuthMethod == c.TokenEndpointAuthMethod {
		return old, nil
	}
	// The change is recorded before it is stored: a client whose codes go
	// elsewhere now never does so unrecorded. A record of a change the
	// store then fails to make says so in the next one's before.
	err = p.record(ctx, audit.Event{Type: audit.ClientUpdated, Agent: c.ClientID, Status: "ok",
		RemoteAddr: addrString(ip), Detail: map[string]any{"source": store.SourceMetadata,
			"before": metadataFields(old), "after": metadataFields(c)}})
	if err != nil {
		return store.Client{}, err
	}
	var kept store.Client
	err = p.Store.Clients().Update(ctx, c.ClientID, func(old store.Client) (store.Client, error) {
		old.Name, old.RedirectURIs, old.PostLogoutRedirectURIs = c.Name, c.RedirectURIs, c.PostLogoutRedirectURIs
		old.GrantTypes, old.TokenEndpointAuthMethod = c.GrantTypes, c.TokenEndpointAuthMethod
		kept = old
		return old, nil
	})
	return kept, err
}

// metadataFields is what a metadata document sets of a client, as the
// trail shows it.
func metadataFields(c store.Client) map[string]any {
	return map[string]any{"client_name": c.Name, "redirect_uris": c.RedirectURIs,
		"post_logout_redirect_uris": c.PostLogoutRedirectURIs, "grant_types": c.GrantTypes,
		"token_endpoint_auth_method": c.TokenEndpointAuthMethod}
}

// metadataDocument is the part of a client metadata document we use.
type metadataDocument struct {
	ClientID                string   `json:"client_id"`
	ClientName              string   `json:"client_name"`
	RedirectURIs            []string `json:"redirect_uris"`
	PostLogoutRedirectURIs  []string `json:"post_logout_redirect_uris"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method"`
	GrantTypes              []string `json:"grant_types"`
	ResponseTypes           []string `json:"response_types"`
	ClientSecret            *string  `json:"client_secret"`
	ClientSecretExpiresAt   *int64   `json:"client_secret_expires_at"`
}

func (p *Provider) fetchMetadata(ctx context.Context, id string) (store.Client, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, p.metadataTimeout())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, id, nil)
	if err != nil {
		return store.Client{}, 0, fmt.Errorf("%w: %w", errMetadata, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := p.metadataHTTP().Do(req)
	if err != nil {
		return store.Client{}, 0, fmt.Errorf("%w: %w", errMetadata, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		// Redirects land here too: they are not followed.
		return store.Client{}, 0, fmt.Errorf("%w: status %d", errMetadata, resp.StatusCode)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/json" && !strings.HasSuffix(mt, "+json") {
		return store.Client{}, 0, fmt.Errorf("%w: content type %q", errMetadata, mt)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, metadataMaxBytes+1))
	if err != nil {
		return store.Client{}, 0, fmt.Errorf("%w: %w", errMetadata, err)
	}
	if len(body) > metadataMaxBytes {
		return store.Client{}, 0, fmt.Errorf("%w: larger than %d bytes", errMetadata, metadataMaxBytes)
	}
	var d metadataDocument
	if err := json.Unmarshal(body, &d); err != nil {
		return store.Client{}, 0, fmt.Errorf("%w: %w", errMetadata, err)
	}
	switch {
	case d.ClientID != id:
		return store.Client{}, 0, fmt.Errorf("%w: client_id %q differs from the URL", errMetadata, d.ClientID)
	case d.ClientSecret != nil || d.ClientSecretExpiresAt != nil:
		return store.Client{}, 0, fmt.Errorf("%w: a metadata document must not carry a client secret", errMetadata)
	case d.TokenEndpointAuthMethod != "" && d.TokenEndpointAuthMethod != authNone:
		return store.Client{}, 0, fmt.Errorf("%w: token_endpoint_auth_method %q is not supported", errMetadata, d.TokenEndpointAuthMethod)
	case len(d.RedirectURIs) == 0:
		return store.Client{}, 0, fmt.Errorf("%w: no redirect_uris", errMetadata)
	case len(d.ResponseTypes) > 0 && !slices.Equal(d.ResponseTypes, []string{"code"}):
		return store.Client{}, 0, fmt.Errorf("%w: response_types must be [code]", errMetadata)
	}
	for _, g := range d.GrantTypes {
		if g != grantCode && g != grantRefresh {
			return store.Client{}, 0, fmt.Errorf("%w: grant type %q is not allowed for a public client", errMetadata, g)
		}
	}
	for _, u := range append(slices.Clone(d.RedirectURIs), d.PostLogoutRedirectURIs...) {
		if err := checkChosenRedirectURI(u); err != nil {
			return store.Client{}, 0, fmt.Errorf("%w: %w", errMetadata, err)
		}
	}
	name := d.ClientName
	if msg := store.CheckDisplayName(name); msg != "" {
		return store.Client{}, 0, fmt.Errorf("%w: client_name %s", errMetadata, msg)
	}
	if len(name) > 200 {
		name = strings.ToValidUTF8(name[:200], "")
	}
	// What the document declares is what the client may do, as for a
	// registered client (handleRegister): its grant types, with RFC 7591's
	// default (the authorization code alone) when it names none, so that
	// a client that did not ask for refresh tokens gets none; and no
	// client authentication.
	grants := d.GrantTypes
	if len(grants) == 0 {
		grants = []string{grantCode}
	}
	c := store.Client{ClientID: id, Name: name, Kind: store.KindAgent, RedirectURIs: d.RedirectURIs,
		PostLogoutRedirectURIs: d.PostLogoutRedirectURIs, Source: store.SourceMetadata,
		GrantTypes: grants, TokenEndpointAuthMethod: authNone}
	return c, cacheTTL(resp.Header.Get("Cache-Control")), nil
}

// cacheTTL reads max-age, bounded; no-store and no-cache still cache for the
// minimum, so one authorization does not fetch twice.
func cacheTTL(cc string) time.Duration {
	ttl := metadataDefTTL
	for d := range strings.SplitSeq(cc, ",") {
		d = strings.TrimSpace(strings.ToLower(d))
		if v, ok := strings.CutPrefix(d, "max-age="); ok {
			if n, err := strconv.Atoi(v); err == nil {
				ttl = time.Duration(n) * time.Second
			}
		}
		if d == "no-store" || d == "no-cache" {
			ttl = 0
		}
	}
	return min(max(ttl, metadataMinTTL), metadataMaxTTL)
}

// metadataHTTP is the guarded client: every connection's address is checked
// after DNS resolution (so a name cannot rebind to an inside address), no
// proxy, no redirects, bounded time.
func (p *Provider) metadataHTTP() *http.Client {
	p.cimd.mu.Lock()
	defer p.cimd.mu.Unlock()
	if p.cimd.client != nil {
		return p.cimd.client
	}
	allowPrivate, timeout := p.AllowPrivateMetadataHosts, p.metadataTimeout()
	dialer := &net.Dialer{
		Timeout: timeout,
		Control: func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("%w: unparsable address", errMetadata)
			}
			if !allowPrivate && !publicAddr(ap.Addr()) {
				return fmt.Errorf("%w: %s is not a public address", errMetadata, ap.Addr())
			}
			return nil
		},
	}
	tr := &http.Transport{
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		TLSClientConfig:        &tls.Config{RootCAs: p.MetadataRootCAs, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:    timeout,
		ResponseHeaderTimeout:  timeout,
		MaxResponseHeaderBytes: 16 << 10,
		IdleConnTimeout:        30 * time.Second,
		MaxIdleConns:           16,
	}
	p.cimd.client = &http.Client{
		Transport: tr,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	return p.cimd.client
}

// Special-purpose ranges that publicAddr refuses beyond netip's predicates.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"), // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"), // NAT64 can reach inside addresses
	netip.MustParsePrefix("64:ff9b:1::/48"),
	netip.MustParsePrefix("2001:db8::/32"),
	netip.MustParsePrefix("2002::/16"),       // 6to4 embeds any IPv4 address
	netip.MustParsePrefix("2001::/32"),       // Teredo embeds an IPv4 address too
	netip.MustParsePrefix("::/96"),           // IPv4-compatible (deprecated): ::7f00:1 is ::127.0.0.1
	netip.MustParsePrefix("::ffff:0:0:0/96"), // IPv4-translated (RFC 2765)
	netip.MustParsePrefix("100::/64"),        // discard-only
	netip.MustParsePrefix("fec0::/10"),       // site-local (deprecated), still routed inside some networks
}

// publicAddr reports whether a is a global unicast address outside private,
// loopback, link-local and special-purpose ranges.
func publicAddr(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsGlobalUnicast() || a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(a) {
			return false
		}
	}
	return true
}
