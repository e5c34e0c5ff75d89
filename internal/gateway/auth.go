package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"

	"github.com/gatehouse/gatehouse/internal/identity/accesstoken"
	"github.com/gatehouse/gatehouse/internal/policy"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/slipverify"
)

// caller is who makes a request: the verified access token and what the
// catalogue says about its person and agent.
type caller struct {
	claims    *accesstoken.Claims
	principal policy.Principal
	agent     policy.Agent
	actor     *slipverify.Actor
	scopes    toolScopes
	// key names who the calls are for, for what is kept per caller (an
	// upstream lane): the person, as created (one removed and added again
	// is another), the agent, and the clients it acts through (resolve).
	key string
	// bound is key but for the chain: what the caller's bounds count
	// (call slots, limits.tool_calls_per_minute, MCP sessions), each
	// person through each agent, whatever chain it holds the person's
	// token through.
	bound string
	// person names the person alone, as created, for the bound on a
	// person's calls through all agents together
	// (limits.tool_calls_per_minute_per_person); "" for a machine client,
	// and where the tenant sets no such bound.
	person string
}

// toolScopes narrows a token to the tools its scope names (tool:<name>).
// A token whose scope names no tool is not narrowed: the person's roles
// and the agent's cap decide alone.
type toolScopes []string

func parseToolScopes(scope string) toolScopes {
	var out toolScopes
	for _, s := range strings.Fields(scope) {
		if t, ok := strings.CutPrefix(s, "tool:"); ok && t != "" {
			out = append(out, t)
		}
	}
	return out
}

func (s toolScopes) allows(tool string) bool { return s == nil || slices.Contains(s, tool) }

// errUnknownAgent rejects a token whose client the tenant no longer has.
var errUnknownAgent = errors.New("the token's client is not registered")

// errDisabled rejects a token of a disabled user.
var errDisabled = errors.New("the user is disabled")

// errUnknownPerson rejects a person's token whose person the tenant no
// longer has (removed), or has anew (removed, then added again under the
// same name after the token was issued).
var errUnknownPerson = errors.New("the token's person is not the tenant's")

// resolve finds the caller in cat. A client cat does not know may have
// registered a moment ago (clients register, sign in and connect within
// milliseconds): when the store has moved on since cat was built, the
// catalogue is reloaded once, now, rather than at the next poll.
func (g *Gateway) resolve(ctx context.Context, cat *catalogue, cl *accesstoken.Claims) (*catalogue, *caller, error) {
	cat, who, err := g.find(ctx, cat, cl)
	if err == nil {
		err = g.notEnded(ctx, cat, cl)
	}
	if err != nil {
		return cat, nil, err
	}
	return cat, who, nil
}

// find is resolve but for the clients' removals (notEnded).
func (g *Gateway) find(ctx context.Context, cat *catalogue, cl *accesstoken.Claims) (*catalogue, *caller, error) {
	who, err := cat.resolve(cl)
	if !errors.Is(err, errUnknownAgent) && !errors.Is(err, errUnknownPerson) {
		return cat, who, err
	}
	rev, rerr := g.Store.Revision(ctx)
	if rerr != nil || rev == cat.rev {
		return cat, nil, err
	}
	g.refreshMu.Lock()
	if cur := g.catalogue(); cur == nil || cur.rev < rev {
		if rerr := g.Reload(ctx); rerr != nil {
			g.logger().Warn("gateway: reload catalogue", "err", rerr)
		}
	}
	g.refreshMu.Unlock()
	cat = g.catalogue()
	who, err = cat.resolve(cl)
	return cat, who, err
}

// resolve finds the token's person and agent in the catalogue.
func (c *catalogue) resolve(cl *accesstoken.Claims) (*caller, error) {
	who := &caller{claims: cl, scopes: parseToolScopes(cl.Scope)}
	who.principal = policy.Principal{Subject: cl.Subject}
	// A client_credentials token's subject is the client itself: no
	// person stands behind it, whatever user may share the name.
	machine := cl.Subject == cl.ClientID && cl.GrantID == "" && cl.Act == nil
	u, ok := c.users[cl.Subject]
	switch {
	case machine:
	case !ok && cl.GrantID != "", ok && issuedBefore(cl.IssuedAt, u.CreatedAt):
		// A person's token (the provider's, with a grant) outlives its
		// person; one issued before its person was created was an
		// earlier person's of the same name.
		return nil, errUnknownPerson
	case ok && u.Disabled:
		return nil, errDisabled
	case ok:
		who.principal.Roles = u.Roles
		who.principal.Attributes = u.Attributes
	}
	// The agent is the client the token was issued to; in a delegation
	// chain (RFC 8693 act) every client's cap narrows the call.
	client, err := c.standingClient(cl.ClientID, cl.IssuedAt, "the client")
	if err != nil {
		return nil, err
	}
	// The caller: this person (as created) through this client (as
	// created), by the delegation chain the client holds the token
	// through (each client of it as created). A person or client removed
	// and added again under its old name is another caller, and so is the
	// same person and client through another chain: neither gets anything
	// of the other's: its MCP sessions (the SDK ties each to this key),
	// flights, lanes. Its bounds are the person's through the agent.
	// Built in a stack buffer: a request resolves its caller twice (its
	// token, its call), and concatenation allocated at every step.
	var kb [128]byte
	k := append(append(append(append(kb[:0], cl.Subject...), 0), cl.ClientID...), 0)
	k = strconv.AppendInt(k, client.CreatedAt.UnixNano(), 10)
	if ok && !machine {
		k = strconv.AppendInt(append(k, 0), u.CreatedAt.UnixNano(), 10)
	}
	who.key = string(k)
	who.bound = who.key
	if ok && !machine && c.personCallsPerMinute > 0 {
		// Only where it counts: every call resolves its caller twice.
		who.person = cl.Subject + "\x00" + strconv.FormatInt(u.CreatedAt.UnixNano(), 10)
	}
	who.agent = policy.Agent{ClientID: client.ClientID, Kind: client.Kind, Tools: client.Tools}
	if cl.Act != nil {
		who.agent.Chain = cl.Act.Chain()
		chain := ""
		for i, id := range who.agent.Chain {
			if id == client.ClientID {
				// The client heading its own chain is named above (a
				// token it exchanged from its own is its token's caller).
				if i > 0 {
					chain += "\x00" + id + "\x00" + strconv.FormatInt(client.CreatedAt.UnixNano(), 10)
				}
				continue
			}
			// Every client of the chain stands as the token's own must:
			// one removed would no longer narrow the call (its cap gone
			// with it).
			other, err := c.standingClient(id, cl.IssuedAt, "a client of the delegation chain")
			if err != nil {
				return nil, err
			}
			if other.Tools != nil {
				who.agent.Tools = intersect(who.agent.Tools, other.Tools)
			}
			chain += "\x00" + id + "\x00" + strconv.FormatInt(other.CreatedAt.UnixNano(), 10)
		}
		if chain != "" {
			who.key += "\x00act" + chain
		}
	}
	who.actor = actorOf(cl)
	return who, nil
}

// standingClient returns the client id of a token issued at issuedAt:
// errUnknownAgent when there is none, or only a later one of that ID (the
// token was an earlier one's), an error naming it as who when it is
// disabled.
func (c *catalogue) standingClient(id string, issuedAt int64, who string) (store.Client, error) {
	client, ok := c.clients[id]
	if id == "" || !ok || issuedBefore(issuedAt, client.CreatedAt) {
		return store.Client{}, errUnknownAgent
	}
	if client.Disabled {
		return store.Client{}, errors.New(who + " is disabled")
	}
	return client, nil
}

// notEnded refuses a token issued at or before the removal of its client,
// or of a client of its delegation chain, that cat knows as added again
// under the ID: within accesstoken.CreationMargin of the removal, the
// creation time alone (standingClient) does not tell it from the removed
// one. Only a token dated no later than its client's creation, met in the
// client's first moments, asks the store (store.Identity.ClientEndedAt);
// a store that cannot say is errRevocationUnknown.
func (g *Gateway) notEnded(ctx context.Context, cat *catalogue, cl *accesstoken.Claims) error {
	if g.ends == nil {
		return nil
	}
	ids := []string{cl.ClientID}
	if cl.Act != nil {
		ids = append(ids, cl.Act.Chain()...)
	}
	for _, id := range ids {
		if c, ok := cat.clients[id]; !ok || cl.IssuedAt > c.CreatedAt.Unix() {
			continue
		}
		ended, err := g.clientEndedAt(ctx, cat, id)
		if err != nil {
			return fmt.Errorf("%w: %w", errRevocationUnknown, err)
		}
		if !ended.IsZero() && cl.IssuedAt <= ended.Unix() {
			return errUnknownAgent
		}
	}
	return nil
}

// clientEndedAt is the store's ClientEndedAt of id, asked once per
// catalogue (catalogue.ended): a token of a client's first second asks it
// on each of its requests, for as long as it lives.
func (g *Gateway) clientEndedAt(ctx context.Context, cat *catalogue, id string) (time.Time, error) {
	if v, ok := cat.ended.Load(id); ok {
		return v.(time.Time), nil
	}
	endedReads.Add(1)
	ended, err := g.ends.ClientEndedAt(ctx, id)
	if err != nil {
		return time.Time{}, err
	}
	cat.ended.Store(id, ended)
	return ended, nil
}

// endedReads counts the store's answers clientEndedAt asked for.
var endedReads atomic.Int64

// issuedBefore reports whether a token issued at issuedAt (Unix seconds)
// predates a person or client created at created, and so was an earlier
// one's of the same name.
func issuedBefore(issuedAt int64, created time.Time) bool {
	return issuedAt < created.Add(-accesstoken.CreationMargin).Unix()
}

func intersect(a, b []string) []string {
	if a == nil {
		return slices.Clone(b)
	}
	out := []string{}
	for _, x := range a {
		if slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// actorOf is the slip's act claim: the client the token was issued to,
// acting for the person, and whoever that client acted for in turn. The
// token's chain is copied, not shared: its claims stay in the token cache.
func actorOf(cl *accesstoken.Claims) *slipverify.Actor {
	clone := func(a *slipverify.Actor) *slipverify.Actor {
		var head, tail *slipverify.Actor
		for x := a; x != nil; x = x.Act {
			n := &slipverify.Actor{Sub: x.Sub, ClientID: x.ClientID}
			if head == nil {
				head = n
			} else {
				tail.Act = n
			}
			tail = n
		}
		return head
	}
	act := clone(cl.Act)
	if act != nil && (act.ClientID == cl.ClientID || act.Sub == cl.ClientID) {
		return act
	}
	return &slipverify.Actor{Sub: cl.ClientID, ClientID: cl.ClientID, Act: act}
}

// tokenCache remembers verified access tokens until they expire, so that a
// session's every request does not pay for a signature check. Access tokens
// are JWTs: what their signature proved stays true until exp. Whether the
// token was revoked since is not: each entry remembers when the store last
// said it was not, and is asked again once that is RevocationRecheck old.
type tokenCache struct {
	mu sync.Mutex
	m  map[string]*cachedToken
}

type cachedToken struct {
	claims  *accesstoken.Claims
	checked time.Time // when the store last said the token was not revoked
}

const tokenCacheSize = 10000

// RevocationRecheck bounds how long a revoked access token (RFC 7009
// revocation, a replayed refresh token revoking its family, an admin)
// keeps working at /mcp on any replica: at most this long after the
// revocation is stored.
const RevocationRecheck = time.Second

func (tc *tokenCache) get(token string, now time.Time) (*accesstoken.Claims, bool) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	c := tc.m[token]
	if c == nil {
		return nil, false
	}
	if now.Unix() >= c.claims.Expiry {
		delete(tc.m, token)
		return nil, false
	}
	return c.claims, now.Sub(c.checked) < RevocationRecheck && !now.Before(c.checked)
}

func (tc *tokenCache) put(token string, c *accesstoken.Claims, checked time.Time) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if tc.m == nil || len(tc.m) >= tokenCacheSize {
		tc.m = make(map[string]*cachedToken)
	}
	tc.m[token] = &cachedToken{claims: c, checked: checked}
}

func (tc *tokenCache) drop(token string) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	delete(tc.m, token)
}

// bearerError is an RFC 6750 error answer.
type bearerError struct {
	status      int
	code        string // invalid_token, insufficient_scope; "" when no token came
	description string
	scope       string
}

func (e *bearerError) Error() string { return e.description }

// writeBearerError answers 401 or 403 with the WWW-Authenticate challenge
// clients follow to the protected resource metadata (RFC 9728) and, when a
// token was sent, the RFC 6750 error.
func (g *Gateway) writeBearerError(w http.ResponseWriter, e *bearerError) {
	params := []string{fmt.Sprintf("resource_metadata=%q", g.metadataURL())}
	if e.code != "" {
		params = append(params, fmt.Sprintf("error=%q", e.code))
		if e.description != "" {
			params = append(params, fmt.Sprintf("error_description=%q", e.description))
		}
	}
	if e.scope != "" {
		params = append(params, fmt.Sprintf("scope=%q", e.scope))
	}
	w.Header().Set("WWW-Authenticate", "Bearer "+strings.Join(params, ", "))
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(e.status)
	body := map[string]string{"error": e.code}
	if e.code == "" {
		body["error"] = "invalid_request"
		body["error_description"] = "a bearer token is required"
	} else if e.description != "" {
		body["error_description"] = e.description
	}
	json.NewEncoder(w).Encode(body)
}

type tokenInfoKey struct{}

// authenticate verifies the bearer token and hands the request on with the
// SDK's TokenInfo in its context (through the SDK's own RequireBearerToken,
// so that the SDK ties each session to its user). The caller's token goes
// no further than this function.
func (g *Gateway) authenticate(next http.Handler) http.Handler {
	sdk := auth.RequireBearerToken(func(ctx context.Context, _ string, _ *http.Request) (*auth.TokenInfo, error) {
		if ti, ok := ctx.Value(tokenInfoKey{}).(*auth.TokenInfo); ok {
			return ti, nil
		}
		return nil, auth.ErrInvalidToken
	}, &auth.RequireBearerTokenOptions{ResourceMetadataURL: g.metadataURL(), ClockSkew: accesstoken.Skew})(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := accesstoken.FromRequest(r)
		if !ok {
			g.writeBearerError(w, &bearerError{status: http.StatusUnauthorized})
			return
		}
		claims, err := g.verifyToken(r.Context(), token)
		if errors.Is(err, errRevocationUnknown) {
			// Deny by default: a token the store cannot vouch for is
			// not used, but it is not called invalid either.
			g.logger().ErrorContext(r.Context(), "gateway: check revocation", "err", err)
			http.Error(w, "the token's revocation status cannot be checked; try again", http.StatusServiceUnavailable)
			return
		}
		if err != nil {
			g.writeBearerError(w, &bearerError{status: http.StatusUnauthorized, code: "invalid_token", description: err.Error()})
			return
		}
		cat := g.catalogue()
		if cat == nil {
			http.Error(w, "the gateway is starting", http.StatusServiceUnavailable)
			return
		}
		cat, who, err := g.resolve(r.Context(), cat, claims)
		if errors.Is(err, errRevocationUnknown) {
			g.logger().ErrorContext(r.Context(), "gateway: check the client's removal", "err", err)
			http.Error(w, "the token's revocation status cannot be checked; try again", http.StatusServiceUnavailable)
			return
		}
		if err != nil {
			g.writeBearerError(w, &bearerError{status: http.StatusUnauthorized, code: "invalid_token", description: err.Error()})
			return
		}
		body, refuse := postBody(r)
		if refuse != "" {
			// As any message /mcp cannot take (rpcerrors.go): a JSON-RPC
			// error, with no ID (a batch is no one request, and a body
			// cut short names none that can be trusted).
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_ = json.NewEncoder(w).Encode(rpcErrorMessage{JSONRPC: "2.0", ID: json.RawMessage("null"),
				Error: rpcError{Code: jsonrpc.CodeInvalidRequest, Message: "Invalid Request: " + refuse}})
			return
		}
		var limited *overLimit
		if be, refused := g.checkScope(r, body, cat, who); be != nil {
			// The calls refused so count against the tenant's bound as
			// any refused call does. Beyond it the 403 (and its records)
			// is not given: the calls go on to callTool, which refuses
			// each as it refuses any call beyond the bound (limited).
			if limited = g.countCalls(r.Context(), cat, who, len(refused)); limited == nil {
				if err := g.stepUpRefused(r, cat, who, refused); err != nil {
					http.Error(w, g.notRecorded(r.Context(), err).Error(), http.StatusServiceUnavailable)
					return
				}
				g.writeBearerError(w, be)
				return
			}
		}
		ti := &auth.TokenInfo{
			UserID:     who.key, // a session serves its own person (as created) and agent only
			Expiration: time.Unix(claims.Expiry, 0),
			Scopes:     strings.Fields(claims.Scope),
			Extra:      map[string]any{callerKey: claims, bearerKey: token, boundKey: who.bound, remoteKey: g.clientAddr(r)},
		}
		if limited != nil {
			ti.Extra[limitedKey] = limited
		}
		sdk.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), tokenInfoKey{}, ti)))
	})
}

// Keys of TokenInfo.Extra: the verified claims, and the client's address.
const (
	callerKey = "gatehouse.claims"
	bearerKey = "gatehouse.bearer" // the token itself, checked again for a session's later notices
	boundKey  = "gatehouse.bound"  // the caller's bound (caller.bound): whose sessions count together
	remoteKey = "gatehouse.remote"
	// limitedKey: the request's tool calls were counted already and went
	// beyond the tenant's bound (*overLimit): they are refused as such,
	// and not counted again.
	limitedKey = "gatehouse.limited"
)

func (g *Gateway) verifyToken(ctx context.Context, token string) (*accesstoken.Claims, error) {
	now := g.now()
	c, fresh := g.tokens.get(token, now)
	if c != nil && fresh {
		return c, nil
	}
	// Verified again whenever the revocation is checked again: a signing
	// key withdrawn since (keys rotate --now) vouches for nothing from then
	// on, a token seen before as well. The keys' own cache makes a second
	// check of a token they verified a lookup and a decode, not a
	// signature check.
	claims, err := accesstoken.Verify(g.Keys, token, g.Issuer, g.Resource, now)
	if err != nil {
		g.tokens.drop(token)
		switch {
		case errors.Is(err, accesstoken.ErrExpired):
			return nil, errors.New("the access token expired")
		case errors.Is(err, accesstoken.ErrAudience):
			return nil, errors.New("the access token is not for this resource")
		}
		return nil, errors.New("the access token is invalid")
	}
	c = &claims
	revoked, err := c.Revoked(ctx, g.Revocations)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errRevocationUnknown, err)
	}
	if revoked {
		g.tokens.drop(token)
		return nil, errors.New("the access token was revoked")
	}
	g.tokens.put(token, c, now)
	return c, nil
}

// stillHolds reports whether a token a session presented earlier would be
// taken now: its signature by a key still published, not expired, and not
// revoked by the store's word of this moment (not the cache's: a notice to
// a session is not a request, and may come right after a revocation).
func (g *Gateway) stillHolds(ctx context.Context, token string) bool {
	c, err := accesstoken.Verify(g.Keys, token, g.Issuer, g.Resource, g.now())
	if err != nil {
		return false
	}
	revoked, err := c.Revoked(ctx, g.Revocations)
	return err == nil && !revoked
}

// errRevocationUnknown is a store that could not say whether a token was
// revoked.
var errRevocationUnknown = errors.New("revocation status unknown")

// guardOrigin refuses requests a browser page of another site could make
// (an Origin not allowed) and requests whose Host is not this resource's,
// which is what a DNS rebinding attack sends. It answers CORS preflights
// from allowed origins.
func (g *Gateway) guardOrigin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !g.allowedHost(r.Host) {
			http.Error(w, "Forbidden: this host does not serve /mcp", http.StatusForbidden)
			return
		}
		origin := r.Header.Get("Origin")
		if origin != "" {
			if !g.allowedOrigin(origin) {
				http.Error(w, "Forbidden: origin not allowed", http.StatusForbidden)
				return
			}
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Add("Vary", "Origin")
			h.Set("Access-Control-Expose-Headers", "Mcp-Session-Id, WWW-Authenticate")
			if r.Method == http.MethodOptions {
				h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS")
				h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Accept, Mcp-Session-Id, Mcp-Protocol-Version, Mcp-Method, Mcp-Name, Last-Event-ID")
				h.Set("Access-Control-Max-Age", "600")
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func (g *Gateway) allowedOrigin(origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	o := u.Scheme + "://" + u.Host
	if strings.EqualFold(o, g.resourceURL.Scheme+"://"+g.resourceURL.Host) {
		return true
	}
	return slices.ContainsFunc(g.AllowedOrigins, func(a string) bool { return strings.EqualFold(strings.TrimSuffix(a, "/"), o) })
}

func (g *Gateway) allowedHost(host string) bool {
	if strings.EqualFold(host, g.resourceURL.Host) {
		return true
	}
	for _, a := range g.AllowedOrigins {
		if u, err := url.Parse(a); err == nil && strings.EqualFold(u.Host, host) {
			return true
		}
	}
	// A resource on a loopback address answers to every loopback name for
	// the same port (127.0.0.1, localhost, [::1]).
	return isLoopback(g.resourceURL.Host) && isLoopback(host) && port(host) == port(g.resourceURL.Host)
}

func isLoopback(hostport string) bool {
	h := hostport
	if hh, _, err := net.SplitHostPort(hostport); err == nil {
		h = hh
	}
	h = strings.Trim(h, "[]")
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func port(hostport string) string {
	if _, p, err := net.SplitHostPort(hostport); err == nil {
		return p
	}
	return ""
}

// clientAddr is the address r came from, for the audit trail (ClientAddr).
func (g *Gateway) clientAddr(r *http.Request) string {
	if g.ClientAddr != nil {
		return g.ClientAddr(r)
	}
	return r.RemoteAddr
}
