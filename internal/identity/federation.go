package identity

// Federation: an upstream OpenID provider (Okta, Entra ID, Auth0, Keycloak…)
// as a login connection. The login page offers each connection; its flow is
// the authorization code with PKCE, state bound to the browser by a cookie
// and kept single-use in the database, nonce, and RFC 9207 iss when the
// upstream supports it. The upstream's ID token is verified here (its
// JWKS, issuer, audience, lifetime, nonce). People who sign in this way are
// users of the tenant named "<connection>:<upstream sub>" — the subject is
// the one identifier an OpenID provider promises never to reassign, where
// preferred_username and email may change hands — linked to the upstream
// issuer and subject (a sub is unique only within its issuer: a
// connection pointed at another upstream does not hand its users to
// whoever has their sub there), so an upstream account never takes over
// a local one. A user
// created before this rule, named after preferred_username or email and
// linked to the same subject, keeps that name. Their roles are those mapped
// from an upstream claim plus any assigned here; a role the connection
// names that does not exist when they sign in is not given (and the
// sign-in's audit record says so). The email address is taken
// only when the upstream says it is verified (email_verified), since this
// provider's own ID tokens and userinfo then assert it.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/store"
)

// Connection is an upstream OpenID provider people may sign in with.
type Connection struct {
	// Name identifies the connection in URLs and usernames
	// ("/login/okta", user "okta:alice"): letters, digits, '-' and '_'.
	Name string
	// DisplayName labels the login button; zero means Name.
	DisplayName string
	// Issuer is the upstream's issuer; its discovery document is at
	// Issuer + "/.well-known/openid-configuration".
	Issuer string
	// ClientID and ClientSecret are Gatehouse's credentials at the
	// upstream (client_secret_basic); an empty secret means a public client.
	ClientID     string
	ClientSecret string
	// Scopes asked of the upstream; zero means openid profile email.
	Scopes []string
	// UsernameClaim names the claim that becomes the username after the
	// prefix; zero means sub. Name another only if the upstream never
	// reassigns it (e.g. Entra ID's oid); "email" is used only when
	// email_verified is true.
	UsernameClaim string
	// RolesClaim names a claim (e.g. "groups" or "roles": an array of
	// strings, or a string that is one value) whose values RoleMap turns
	// into tenant roles at every sign-in; zero means roles are only
	// assigned here.
	RolesClaim string
	RoleMap    map[string][]string
	// DefaultRoles are given to a user of this connection on first sign-in.
	DefaultRoles []string
	// HTTPClient talks to the upstream; nil means a client with a 10 s
	// timeout. The upstream is the operator's choice, so no SSRF guard.
	HTTPClient *http.Client

	up upstream
}

const (
	fedCookie   = "gh_fed"
	fedStateTTL = 10 * time.Minute
	skewSeconds = 60
)

// Attributes a federated user carries.
const (
	attrIdP      = "idp"
	attrIdPSub   = "idp_sub"
	attrIdPRoles = "idp_roles" // the roles the last sign-in mapped, comma-separated
	attrIdPIss   = "idp_iss"   // the upstream's issuer: a sub is unique only within it
)

var defaultUpstreamClient = &http.Client{Timeout: 10 * time.Second, CheckRedirect: plainRedirectsOnly}

// plainRedirectsOnly follows a redirect of a plain GET (discovery, keys)
// and of nothing that carries a credential: the token request's body holds
// the code, its verifier and maybe the client's secret, the userinfo
// request the upstream's access token, and a redirect would hand them to
// wherever it points (Go keeps a header only across hosts, never a body
// that a 307 or 308 sends again). Nor does it follow one to plain HTTP
// off this machine, where whoever is on the path would answer for the
// upstream (with keys of their own).
func plainRedirectsOnly(req *http.Request, via []*http.Request) error {
	first := via[0]
	if first.Method != http.MethodGet || first.Header.Get("Authorization") != "" {
		return http.ErrUseLastResponse
	}
	if !upstreamURLSecure(req.URL.String()) {
		return errors.New("redirected to a URL that is not https")
	}
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	return nil
}

func (c *Connection) client() *http.Client {
	if c.HTTPClient != nil {
		return c.HTTPClient
	}
	return defaultUpstreamClient
}

func (c *Connection) label() string {
	if c.DisplayName != "" {
		return c.DisplayName
	}
	return c.Name
}

func validConnectionName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// checkConnections refuses connections that cannot work, or not safely:
// names not unique or not of letters, digits, '-' and '_'; no client ID;
// an issuer that is not https (http only to a loopback address, as the
// tenant file has it: the upstream's keys and endpoints come from it).
func checkConnections(cs []*Connection) error {
	seen := map[string]bool{}
	for _, c := range cs {
		switch {
		case c == nil || !validConnectionName(c.Name) || seen[c.Name]:
			return fmt.Errorf("identity: connection names must be unique, of letters, digits, - and _")
		case c.ClientID == "" || !upstreamURLSecure(c.Issuer):
			return fmt.Errorf("identity: connection %s needs an https issuer (http only to a loopback address) and a client ID", c.Name)
		}
		seen[c.Name] = true
	}
	return nil
}

// SetConnections replaces the connections people may sign in with while
// the provider serves: the tenant's were changed (a tenant file applied,
// a role removed), and a sign-in must not go on giving what they no
// longer say. A connection configured as one in use is kept as it is,
// with what it fetched of its upstream (discovery, keys). It refuses
// what Check would refuse of Connections, and then changes nothing. A
// sign-in already under way finishes with the connection it started
// with; the roles it gives are checked against those that exist when it
// stores its person (federatedUser). Safe for concurrent use.
func (p *Provider) SetConnections(cs []*Connection) error {
	if err := p.Check(); err != nil {
		return err
	}
	if err := checkConnections(cs); err != nil {
		return err
	}
	old := p.connections()
	next := make([]*Connection, len(cs))
	for i, c := range cs {
		next[i] = c
		for _, o := range old {
			if o.sameConfig(c) {
				next[i] = o
				break
			}
		}
	}
	p.conns.Store(&next)
	return nil
}

// sameConfig reports whether c and d are configured alike (every field
// but what they fetched of their upstream).
func (c *Connection) sameConfig(d *Connection) bool {
	return c.Name == d.Name && c.DisplayName == d.DisplayName && c.Issuer == d.Issuer && c.ClientID == d.ClientID &&
		c.ClientSecret == d.ClientSecret && slices.Equal(c.Scopes, d.Scopes) && c.UsernameClaim == d.UsernameClaim &&
		c.RolesClaim == d.RolesClaim && maps.EqualFunc(c.RoleMap, d.RoleMap, slices.Equal) &&
		slices.Equal(c.DefaultRoles, d.DefaultRoles) && c.HTTPClient == d.HTTPClient
}

// connections are the connections in use.
func (p *Provider) connections() []*Connection {
	if cs := p.conns.Load(); cs != nil {
		return *cs
	}
	return p.Connections
}

func (p *Provider) connection(name string) *Connection {
	for _, c := range p.connections() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func (p *Provider) fedCallback(c *Connection) string {
	return p.url(pathLogin + "/" + c.Name + "/callback")
}

// handleFederatedStartLink answers a link to a connection (GET
// /login/{conn}) with the login page, where the person chooses it. A link
// alone never starts a federated sign-in: any site could send a browser
// there, and an upstream that signs its person in at once would have
// replaced the session Gatehouse had (the callback ends it) without the
// person doing anything.
func (p *Provider) handleFederatedStartLink(w http.ResponseWriter, r *http.Request) {
	if p.connection(r.PathValue("conn")) == nil {
		p.errorPage(w, r, http.StatusNotFound, "There is no such sign-in connection.")
		return
	}
	q, v := r.URL.Query(), url.Values{}
	for _, k := range []string{"authz", "next", "fresh"} {
		if q.Get(k) != "" {
			v.Set(k, q.Get(k))
		}
	}
	to := p.url(pathLogin)
	if len(v) > 0 {
		to += "?" + v.Encode()
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// handleFederatedStart sends the browser to the upstream: the login page's
// button for the connection, a form carrying the page's CSRF token.
func (p *Provider) handleFederatedStart(w http.ResponseWriter, r *http.Request) {
	c := p.connection(r.PathValue("conn"))
	if c == nil {
		p.errorPage(w, r, http.StatusNotFound, "There is no such sign-in connection.")
		return
	}
	q, ferr := parseForm(w, r)
	if ferr != nil {
		p.errorPage(w, r, http.StatusBadRequest, ferr.Description)
		return
	}
	if !equalSecret(p.cookie(r, loginCSRF), q.Get("csrf")) {
		d := pageData{Authz: q.Get("authz"), Next: p.safeNext(q.Get("next")), Error: "The sign-in form expired. Please try again."}
		if _, err := url.ParseQuery(d.Authz); err != nil {
			d.Authz = ""
		}
		p.loginForm(w, r, http.StatusForbidden, d)
		return
	}
	ctx := r.Context()
	// Each start stores a row: bound per address like login attempts
	// (a sign-in that succeeds gives its start back).
	n, err := p.countUnlessPast(ctx, fedStartKey(p.clientIP(r)), orDefault(p.MaxFailuresPerIP, 100), p.window())
	if err != nil || n > orDefault(p.MaxFailuresPerIP, 100) {
		p.errorPage(w, r, http.StatusTooManyRequests, "Too many sign-in attempts. Please wait a few minutes.")
		return
	}
	meta, err := c.up.metadata(ctx, c.client(), c.Issuer, p.now())
	if err != nil {
		p.log().ErrorContext(ctx, "federation: upstream discovery", "connection", c.Name, "err", err)
		p.errorPage(w, r, http.StatusBadGateway, "Signing in with "+c.label()+" is not possible right now.")
		return
	}
	state, nonce, verifier := randomToken(""), randomToken(""), randomToken("")
	authz := q.Get("authz")
	if _, err := url.ParseQuery(authz); err != nil {
		authz = ""
	}
	err = p.Store.Identity().CreateFederationState(ctx, store.FederationState{
		Hash: digest(state), Connection: c.Name, Nonce: nonce, CodeVerifier: verifier, Authz: authz,
		Next: p.safeNext(q.Get("next")), ExpiresAt: p.now().Add(fedStateTTL).UTC().Truncate(time.Microsecond)})
	if err != nil {
		p.log().ErrorContext(ctx, "federation: store state", "err", err)
		p.errorPage(w, r, http.StatusInternalServerError, "Signing in failed. Please try again.")
		return
	}
	scopes := c.Scopes
	if len(scopes) == 0 {
		scopes = []string{"openid", "profile", "email"}
	}
	v := url.Values{"response_type": {"code"}, "client_id": {c.ClientID}, "redirect_uri": {p.fedCallback(c)},
		"scope": {strings.Join(scopes, " ")}, "state": {state}, "nonce": {nonce},
		"code_challenge": {s256(verifier)}, "code_challenge_method": {"S256"}}
	// A fresh sign-in demanded of Gatehouse (prompt=login, max_age) is
	// demanded of the upstream: else a session still open there would
	// sign the person in without a credential. The session's auth_time
	// is the upstream's in any case (handleFederatedCallback).
	if q.Get("fresh") == "1" {
		// max_age=0 with prompt=login: OpenID Connect Core makes auth_time
		// required when max_age is asked for (prompt=login alone does
		// not), and without auth_time the callback cannot tell a fresh
		// sign-in from an old session, so it refuses the answer. A fresh
		// sign-in is one made now, so 0 also replaces a longer max_age
		// the app asked for with it.
		v.Set("prompt", "login")
		v.Set("max_age", "0")
	} else if aq, err := url.ParseQuery(authz); err == nil {
		if n, err := strconv.Atoi(aq.Get("max_age")); err == nil && n >= 0 {
			v.Set("max_age", strconv.Itoa(n))
		}
	}
	sep := "?"
	if strings.Contains(meta.AuthorizationEndpoint, "?") {
		sep = "&"
	}
	p.setCookie(w, fedCookie, state, fedStateTTL)
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, meta.AuthorizationEndpoint+sep+v.Encode(), http.StatusSeeOther)
}

// upstreamSideRefusal are the reasons a federated sign-in is refused
// that are no caller's doing: the upstream could not be reached, its token
// endpoint or ID token failed, it did not say when the person signed in,
// or the account could not sign in here (which includes the store
// failing). The others (state_mismatch, state_unknown, state_reused,
// issuer_mismatch, upstream_access_denied and the other errors of the
// callback's query) are what anyone can send the callback.
var upstreamSideRefusal = map[string]bool{"upstream_unavailable": true, "upstream_token": true,
	"auth_time_missing": true, "account": true}

// errNotLinked refuses a federated sign-in whose username is a local
// person's not linked to the upstream account: it is not theirs.
var errNotLinked = errors.New("the name is another person's")

// maxUpstreamSub bounds an upstream subject: OpenID Connect caps it at
// 255 ASCII characters.
const maxUpstreamSub = 255

// handleFederatedCallback finishes an upstream sign-in.
func (p *Provider) handleFederatedCallback(w http.ResponseWriter, r *http.Request) {
	c := p.connection(r.PathValue("conn"))
	if c == nil {
		p.errorPage(w, r, http.StatusNotFound, "There is no such sign-in connection.")
		return
	}
	ctx := r.Context()
	q := r.URL.Query()
	ip := p.clientIP(r)
	// Who the refused sign-in was for and the application it was to
	// continue, once known (as a refused password sign-in names them).
	var actor, agent string
	// claimed is the local person a refused sign-in came for without
	// being theirs (a name the upstream account maps to that is not
	// linked to it), and claimedSub that account's subject: the record
	// names no actor then, or it would say the local person tried.
	var claimed, claimedSub string
	refused := func(reason string, detail ...any) {
		// Anyone can call the callback, with no cookie and any state. As
		// for failed password sign-ins (checkPassword), a flood of
		// refusals from one address stops growing the trail and the log
		// once the address has had its share: only the refusal that
		// reaches the limit is recorded, as "throttled".
		d := map[string]any{"reason": reason, "method": "fed", "connection": c.Name}
		if claimed != "" {
			d["claimed_user"], d["upstream_sub"] = claimed, claimedSub
		}
		maxI := orDefault(p.MaxFailuresPerIP, 100)
		n, err := p.countUnlessPast(ctx, "federation:fail:ip:"+throttleKey(ip), maxI, p.window())
		switch {
		case err != nil:
			p.log().ErrorContext(ctx, "count federated sign-in failure", "err", err)
		case n == maxI+1:
			d["reason"], d["cause"] = "throttled", reason
		case n > maxI+1:
			return
		}
		// A refusal anyone can cause (a state of their own, an error or
		// an issuer put in the callback's query) is information; one of
		// the upstream's side, or of an account here, a warning.
		level := slog.LevelInfo
		if upstreamSideRefusal[reason] {
			level = slog.LevelWarn
		}
		p.log().Log(ctx, level, "federated sign-in refused", append([]any{"connection", c.Name, "reason", d["reason"]}, detail...)...)
		_ = p.record(ctx, audit.Event{Type: audit.LoginFailed, Actor: actor, Agent: agent, Status: "refused",
			RemoteAddr: addrString(ip), Detail: d})
	}
	fail := func(status int, reason, msg string, detail ...any) {
		refused(reason, detail...)
		p.errorPage(w, r, status, msg)
	}
	state := q.Get("state")
	// The state must be the one this browser was given (no login CSRF),
	// known, for this connection, fresh, and used once.
	if state == "" || !equalSecret(p.cookie(r, fedCookie), state) {
		fail(http.StatusBadRequest, "state_mismatch", "This sign-in was not started in this browser. Please start again.")
		return
	}
	p.setCookie(w, fedCookie, "", -1)
	h := digest(state)
	st, err := p.Store.Identity().FederationState(ctx, h)
	if err != nil || st.Connection != c.Name || !p.now().Before(st.ExpiresAt) {
		fail(http.StatusBadRequest, "state_unknown", "This sign-in has expired. Please start again.")
		return
	}
	if aq, err := url.ParseQuery(st.Authz); err == nil {
		agent = truncate(aq.Get("client_id"), 512)
	}
	if first, err := p.Store.Consume(ctx, "federation", h, st.ExpiresAt.Add(markerKept)); err != nil || !first {
		fail(http.StatusBadRequest, "state_reused", "This sign-in was already used. Please start again.")
		return
	}
	meta, err := c.up.metadata(ctx, c.client(), c.Issuer, p.now())
	if err != nil {
		fail(http.StatusBadGateway, "upstream_unavailable", "Signing in with "+c.label()+" is not possible right now.", "err", err)
		return
	}
	// RFC 9207: the answer must come from the upstream we asked.
	if iss := q.Get("iss"); (iss != "" || meta.IssParameterSupported) && iss != c.Issuer {
		fail(http.StatusBadRequest, "issuer_mismatch", "The sign-in answer came from the wrong provider.")
		return
	}
	if e := q.Get("error"); e != "" {
		// The error parameter is whatever reached the callback (anyone
		// can start a sign-in and call it with their own state): the
		// trail gets a class, one of the codes RFC 6749 and OpenID
		// Connect define, and the log the code quoted.
		class := "other"
		if slices.Contains(upstreamErrors, e) {
			class = e
		}
		fail(http.StatusForbidden, "upstream_"+class, c.label()+" did not sign you in.", "upstream_error", strconv.Quote(truncate(e, 64)))
		return
	}
	claims, err := p.redeemUpstream(ctx, c, meta, q.Get("code"), st)
	if err != nil {
		fail(http.StatusBadGateway, "upstream_token", "Signing in with "+c.label()+" failed.", "err", err)
		return
	}
	// The person signed in when the upstream says (OpenID Connect
	// auth_time), not when its answer came: a session still open there
	// is not a fresh sign-in here either.
	authTime, dated := upstreamAuthTime(claims, p.now())
	if !dated && freshDemanded(st.Authz) {
		// The authorization request demanded a fresh sign-in, and the
		// upstream does not say when this one was made, though the
		// max_age it was asked for obliges it to: it may have answered
		// from a session it already had, ignoring the demand, so "now"
		// would be a guess in the person's favour. The sign-in is refused,
		// before it changes the user or ends the session this browser
		// has, and the app is told no fresh sign-in could be had
		// (login_required) as when auth_time is too old: the request goes
		// back to /authorize with prompt=none, which answers the app
		// instead of showing the login page again, unless the session
		// the browser already has meets the demand.
		refused("auth_time_missing")
		aq, _ := url.ParseQuery(st.Authz) // parsed when the state was stored
		aq.Set("prompt", "none")
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, p.url(pathAuthorize)+"?"+aq.Encode(), http.StatusSeeOther)
		return
	}
	user, notGranted, err := p.federatedUser(ctx, c, claims)
	if err != nil {
		if errors.Is(err, errNotLinked) {
			claimed = user.Username
			claimedSub, _ = claims["sub"].(string) // bounded by verifyUpstreamIDToken
		} else {
			actor = user.Username
		}
		fail(http.StatusForbidden, "account", "This "+c.label()+" account cannot sign in here.", "err", err)
		return
	}
	if len(notGranted) > 0 {
		// The tenant's roles, not the upstream's claim values: names an
		// admin chose, no secret.
		p.log().WarnContext(ctx, "federated sign-in: roles the connection gives that do not exist were not granted",
			"connection", c.Name, "roles", notGranted)
	}
	if err := p.endPriorSession(ctx, w, r, ip); err != nil {
		p.log().ErrorContext(ctx, "federated login: end the prior session", "err", err)
		p.errorPage(w, r, http.StatusInternalServerError, "Signing in failed. Please try again.")
		return
	}
	s, err := p.startSessionAt(ctx, w, user.Username, "fed", authTime)
	if err == nil {
		detail := map[string]any{"method": "fed", "connection": c.Name, "roles": user.Roles}
		if len(notGranted) > 0 {
			detail["roles_not_granted"] = notGranted
		}
		err = p.record(ctx, audit.Event{Type: audit.LoginSucceeded, Session: s.ID, Actor: user.Username, Status: "ok",
			RemoteAddr: addrString(ip), Detail: detail})
		if err != nil {
			_ = p.endSession(ctx, w, s)
		}
	}
	if err == nil {
		// The start counted against the address (startFederation) is
		// given back: what the bound is for is starts left pending, and
		// an office behind one address signs in many people in a window.
		if ferr := p.Store.Identity().ForgiveAttempt(ctx, fedStartKey(ip)); ferr != nil {
			p.log().ErrorContext(ctx, "federated login: forgive the start", "err", ferr)
		}
	}
	if err != nil {
		p.log().ErrorContext(ctx, "federated login", "err", err)
		p.errorPage(w, r, http.StatusInternalServerError, "Signing in failed. Please try again.")
		return
	}
	next := st.Next
	switch {
	case st.Authz != "":
		next = p.url(pathAuthorize) + "?" + st.Authz
	case next == "":
		next = p.path + pathSignedIn
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// upstreamErrors are the error codes of an authorization response (RFC
// 6749 §4.1.2.1, OpenID Connect Core §3.1.2.6) kept as audit reasons.
var upstreamErrors = []string{"invalid_request", "unauthorized_client", "access_denied", "unsupported_response_type",
	"invalid_scope", "server_error", "temporarily_unavailable", "interaction_required", "login_required",
	"account_selection_required", "consent_required", "invalid_request_uri", "invalid_request_object",
	"request_not_supported", "request_uri_not_supported", "registration_not_supported"}

// upstreamAuthTime is when the upstream says the person signed in (its ID
// token's auth_time, a positive number), never later than now, and whether
// it says so. When it does not, the time is now and the answer false: that
// the person is signed in there is true now, when they signed in is not
// known, which only a demand for a fresh sign-in needs to know.
func upstreamAuthTime(claims map[string]any, now time.Time) (time.Time, bool) {
	at, ok := claims["auth_time"].(float64)
	if !ok || at <= 0 {
		return now, false
	}
	if int64(at) < now.Unix() {
		return time.Unix(int64(at), 0), true
	}
	return now, true
}

// freshDemanded reports whether the authorization request a federated
// sign-in was started for (the state's Authz) demands a sign-in no older
// than some time: prompt=login, max_age=0 or max_age=N, which /authorize
// turns into loginAfterParam on its way to the login page. A malformed one
// counts too; /authorize refuses it in any case.
func freshDemanded(authz string) bool {
	aq, err := url.ParseQuery(authz)
	return err == nil && aq.Get(loginAfterParam) != ""
}

// redeemUpstream exchanges the code and verifies the upstream ID token.
func (p *Provider) redeemUpstream(ctx context.Context, c *Connection, meta *upstreamMeta, code string, st store.FederationState) (map[string]any, error) {
	if code == "" {
		return nil, errors.New("no code")
	}
	f := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {p.fedCallback(c)},
		"code_verifier": {st.CodeVerifier}}
	if c.ClientSecret == "" {
		f.Set("client_id", c.ClientID)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, meta.TokenEndpoint, strings.NewReader(f.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if c.ClientSecret != "" {
		req.SetBasicAuth(url.QueryEscape(c.ClientID), url.QueryEscape(c.ClientSecret))
	}
	resp, err := c.client().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var tr struct {
		IDToken     string `json:"id_token"`
		AccessToken string `json:"access_token"`
		Error       string `json:"error"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(nil, resp.Body, upstreamMaxBytes)).Decode(&tr); err != nil {
		return nil, fmt.Errorf("token response: %w", err)
	}
	if resp.StatusCode != http.StatusOK || tr.IDToken == "" {
		return nil, fmt.Errorf("token request: status %d, error %q", resp.StatusCode, tr.Error)
	}
	claims, err := p.verifyUpstreamIDToken(ctx, c, meta, tr.IDToken, st.Nonce)
	if err != nil {
		return nil, err
	}
	// Some upstreams put few claims in the ID token; userinfo has the rest.
	if _, ok := claims[c.usernameClaim()]; (!ok || claims["email"] == nil || c.RolesClaim != "" && claims[c.RolesClaim] == nil) &&
		meta.UserinfoEndpoint != "" && tr.AccessToken != "" {
		extra, err := fetchUserinfo(ctx, c.client(), meta.UserinfoEndpoint, tr.AccessToken)
		switch {
		case err != nil:
			// The sign-in goes on with the ID token's claims: one the
			// person's name or roles come from is missing then (no name
			// refuses it; no roles claim maps none, and the roles the
			// last sign-in mapped go). Said, so that an admin can tell
			// why.
			p.log().WarnContext(ctx, "federated sign-in: the upstream's userinfo failed; going on with the ID token's claims",
				"connection", c.Name, "err", err)
		case extra["sub"] != claims["sub"]:
			p.log().WarnContext(ctx, "federated sign-in: the upstream's userinfo is of another subject; not used", "connection", c.Name)
		default:
			for k, v := range extra {
				if _, have := claims[k]; !have {
					claims[k] = v
				}
			}
		}
	}
	return claims, nil
}

func fetchUserinfo(ctx context.Context, c *http.Client, endpoint, token string) (map[string]any, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("userinfo: status %d", resp.StatusCode)
	}
	var m map[string]any
	err = json.NewDecoder(http.MaxBytesReader(nil, resp.Body, upstreamMaxBytes)).Decode(&m)
	return m, err
}

// verifyUpstreamIDToken applies OpenID Connect Core §3.1.3.7.
func (p *Provider) verifyUpstreamIDToken(ctx context.Context, c *Connection, meta *upstreamMeta, tok, nonce string) (map[string]any, error) {
	alg, kid, err := jwsHeader(tok)
	if err != nil {
		return nil, err
	}
	if !slices.Contains([]string{"RS256", "PS256", "ES256", "ES384", "EdDSA"}, alg) {
		return nil, fmt.Errorf("ID token alg %q is not accepted", alg)
	}
	k, err := c.up.key(ctx, c.client(), meta.JWKSURI, kid, p.now())
	if err != nil {
		return nil, err
	}
	payload, err := verifyJWS(tok, k, alg)
	if err != nil {
		return nil, err
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		return nil, errors.New("ID token claims are not JSON")
	}
	var aud audience
	if b, err := json.Marshal(claims["aud"]); err != nil || json.Unmarshal(b, &aud) != nil {
		return nil, errors.New("ID token aud is malformed")
	}
	num := func(k string) int64 { f, _ := claims[k].(float64); return int64(f) }
	now := p.now().Unix()
	switch {
	case claims["iss"] != c.Issuer:
		return nil, errors.New("ID token iss is not the upstream")
	case !slices.Contains(aud, c.ClientID):
		return nil, errors.New("ID token is not for this client")
	// azp names the client the token was issued to: when present it must
	// be us, and a token for several audiences must say it was issued to
	// us, since Gatehouse trusts no other audience (OpenID Connect Core
	// §3.1.3.7).
	case claims["azp"] != nil && claims["azp"] != c.ClientID:
		return nil, errors.New("ID token azp is another client")
	case len(aud) > 1 && claims["azp"] == nil:
		return nil, errors.New("ID token has several audiences and no azp")
	case num("exp") == 0 || now >= num("exp")+skewSeconds:
		return nil, errors.New("ID token expired")
	case num("iat") == 0:
		return nil, errors.New("ID token has no iat")
	case num("iat") > now+skewSeconds:
		return nil, errors.New("ID token issued in the future")
	case claims["nonce"] != nonce:
		return nil, errors.New("ID token nonce mismatch")
	}
	switch sub, _ := claims["sub"].(string); {
	case sub == "":
		return nil, errors.New("ID token has no sub")
	case len(sub) > maxUpstreamSub:
		// OpenID Connect bounds it; kept in the person's attributes and
		// in records, it is bounded here too.
		return nil, fmt.Errorf("ID token sub is longer than %d bytes", maxUpstreamSub)
	}
	return claims, nil
}

func (c *Connection) usernameClaim() string {
	if c.UsernameClaim != "" {
		return c.UsernameClaim
	}
	return "sub"
}

// legacyName is the name an earlier version gave a user of this upstream
// account: after preferred_username, else email, else sub.
func legacyName(claims map[string]any) string {
	for _, k := range []string{"preferred_username", "email"} {
		if s, _ := claims[k].(string); s != "" {
			return s
		}
	}
	s, _ := claims["sub"].(string)
	return s
}

// verifiedEmail is the upstream's email address when it says the address
// is verified (a boolean, or the string "true" some providers send).
func verifiedEmail(claims map[string]any) string {
	email, _ := claims["email"].(string)
	if !usableName(email) {
		return ""
	}
	switch v := claims["email_verified"].(type) {
	case bool:
		if v {
			return email
		}
	case string:
		if v == "true" {
			return email
		}
	}
	return ""
}

// usableName reports whether an upstream's name (or email address) can
// be kept: valid UTF-8, at most 200 bytes, and no blank, control, format
// (a bidirectional override) or invisible character, which would let a
// person at the upstream pick a name that reads as another's or that
// writes escapes into an admin's terminal.
func usableName(name string) bool {
	if name == "" || len(name) > 200 || !utf8.ValidString(name) {
		return false
	}
	for _, r := range name {
		if unicode.IsSpace(r) || !unicode.IsPrint(r) || store.IsHiddenRune(r) {
			return false
		}
	}
	return true
}

// ConnectionRoles is how a connection gives roles (Connection's fields of
// the same names), as Provider.StoredRoles reads it from the tenant.
type ConnectionRoles struct {
	RolesClaim   string
	RoleMap      map[string][]string
	DefaultRoles []string
}

// mappedRoles turns the roles claim into tenant roles. A string is one
// value, not a list of words: upstreams that send a multi-valued claim
// with one value as a string (AD FS, PingFederate) name one group, and a
// group's name may have spaces ("Sales Interns" is not "Sales").
func (c *Connection) mappedRoles(claims map[string]any) []string {
	if c.RolesClaim == "" {
		return nil
	}
	var values []string
	switch v := claims[c.RolesClaim].(type) {
	case string:
		values = []string{v}
	case []any:
		for _, x := range v {
			if s, ok := x.(string); ok {
				values = append(values, s)
			}
		}
	}
	var out []string
	for _, v := range values {
		out = append(out, c.RoleMap[v]...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// federatedUser creates or updates the tenant user of an upstream account.
// A user of that name that is not linked to the same upstream subject is
// never taken over. It gives only roles that exist: the connection's
// configuration may name one removed since it was read (by this replica
// before it reloaded, or by the sign-in already under way), and a role
// created later under that name would be the person's unasked. So the
// person is stored in the transaction that checks the roles, under the
// tenant's lock, which role remove takes too: neither decides on what the
// other is changing. It returns the roles it left out; on error, a user
// with only the name it was for, when it got that far (for the record of
// the refused sign-in).
func (p *Provider) federatedUser(ctx context.Context, c *Connection, claims map[string]any) (store.User, []string, error) {
	sub := claims["sub"].(string)
	email := verifiedEmail(claims)
	name, _ := claims[c.usernameClaim()].(string)
	if c.usernameClaim() == "email" {
		name = email
	}
	if !usableName(name) {
		return store.User{}, nil, errors.New("no usable username claim")
	}
	var (
		out        store.User
		notGranted []string
	)
	err := p.Store.InTx(ctx, func(tx store.Tenant) error {
		if err := tx.Lock(ctx); err != nil {
			return err
		}
		rc := c
		if p.StoredRoles != nil {
			// The roles the tenant maps now, not those of the
			// configuration c was built from, which this replica may
			// not have reloaded since a role was removed and created
			// again under its name (or could not reload).
			r, err := p.StoredRoles(ctx, tx, c.Name)
			if err != nil {
				return err
			}
			if r == nil {
				return fmt.Errorf("connection %s is no longer in the tenant", c.Name)
			}
			rc = &Connection{Name: c.Name, Issuer: c.Issuer, UsernameClaim: c.UsernameClaim,
				RolesClaim: r.RolesClaim, RoleMap: r.RoleMap, DefaultRoles: r.DefaultRoles}
		}
		var err error
		out, notGranted, err = federatedUserIn(ctx, tx, rc, claims, c.Name+":"+name, sub, email)
		return err
	})
	if err != nil {
		return store.User{Username: out.Username}, nil, err
	}
	return out, notGranted, nil
}

// federatedUserIn is federatedUser in tx, holding the tenant's lock.
func federatedUserIn(ctx context.Context, tx store.Tenant, c *Connection, claims map[string]any,
	username, sub, email string) (store.User, []string, error) {
	users := tx.Users()
	// A user named the earlier way and linked to this very account keeps
	// its name (and roles, and audit trail).
	if old := c.Name + ":" + legacyName(claims); c.UsernameClaim == "" && old != username && usableName(legacyName(claims)) {
		if u, err := users.Get(ctx, old); err == nil && c.linked(u, sub) {
			username = old
		} else if err != nil && !errors.Is(err, store.ErrNotFound) {
			return store.User{}, nil, err
		}
	}
	// The account is one person, whatever its claims say today: one
	// whose username claim (or, for a user named the earlier way, its
	// preferred_username) changed is the user already linked to it, and
	// is refused with it when an admin disabled it, not given a second,
	// enabled user. Looked for only when no user has the name, which is
	// a first sign-in or such a change.
	if _, err := users.Get(ctx, username); errors.Is(err, store.ErrNotFound) {
		if name, err := c.linkedUser(ctx, tx, sub); err != nil {
			return store.User{}, nil, err
		} else if name != "" {
			username = name
		} else if err := store.NameFree(ctx, tx, "user", username); err != nil {
			// A new person: a person and a client cannot share a name,
			// by any spelling, as the tenant file and the admin commands
			// have it (a client's own token has the client as its
			// subject, the trail's actor and a slip's sub); nor may two
			// people's names differ only in case ("okta:Alice" made
			// beside another upstream account's "okta:alice"): the
			// CLI's lists and the trail would show one name for both.
			return store.User{}, nil, err
		}
	} else if err != nil {
		return store.User{}, nil, err
	}
	roles, err := tx.Roles().List(ctx)
	if err != nil {
		return store.User{}, nil, err
	}
	exists := map[string]bool{}
	for _, r := range roles {
		exists[r.Name] = true
	}
	// existing splits rs into the roles that exist and those that do not.
	existing := func(rs []string) (in, out []string) {
		for _, r := range rs {
			if exists[r] {
				in = append(in, r)
			} else {
				out = append(out, r)
			}
		}
		return in, out
	}
	mapped, mappedGone := existing(c.mappedRoles(claims))
	defaults, defaultsGone := existing(c.DefaultRoles)
	u := store.User{Username: username, Email: email, Attributes: map[string]string{attrIdP: c.Name, attrIdPSub: sub, attrIdPIss: c.Issuer}}
	u.Roles = unionSorted(defaults, mapped)
	// What the mapping gave: a default role it maps too is the first
	// sign-in's, held here, and stays when the group is gone.
	if given := without(mapped, defaults); len(given) > 0 {
		u.Attributes[attrIdPRoles] = strings.Join(given, ",")
	}
	err = users.Create(ctx, u)
	if err == nil {
		return u, unionSorted(defaultsGone, mappedGone), nil
	}
	if !errors.Is(err, store.ErrConflict) {
		return store.User{}, nil, err
	}
	var out store.User
	err = users.Update(ctx, username, func(old store.User) (store.User, error) {
		if !c.linked(old, sub) {
			return old, fmt.Errorf("user %q is not linked to this %s account: %w", username, c.Name, errNotLinked)
		}
		// A user linked before the issuer was recorded takes the
		// connection's issuer now.
		old.Attributes[attrIdPIss] = c.Issuer
		if old.Disabled {
			return old, fmt.Errorf("user %q is disabled", username)
		}
		// Roles assigned here stay; those the last sign-in mapped are
		// replaced by what this one maps, which is none when the
		// connection no longer has a roles_claim: a mapping removed
		// takes the roles it gave with it.
		var before []string
		if v := old.Attributes[attrIdPRoles]; v != "" {
			before = strings.Split(v, ",")
		}
		kept := without(old.Roles, before)
		old.Roles = unionSorted(kept, mapped)
		// The mapping gives only what the person does not hold here
		// already (kept: a default role, one an admin assigned): those
		// are not the mapping's to take away later.
		if given := without(mapped, kept); len(given) > 0 {
			old.Attributes[attrIdPRoles] = strings.Join(given, ",")
		} else {
			delete(old.Attributes, attrIdPRoles)
		}
		// What the upstream vouches for now: an address it no longer
		// says is verified is not asserted here either.
		if email != "" || claims["email"] != nil {
			old.Email = email
		}
		out = old
		return old, nil
	})
	if err != nil {
		return store.User{Username: username}, nil, err
	}
	// Default roles are given on the first sign-in only: none was left
	// out of this one.
	return out, unionSorted(nil, mappedGone), nil
}

// without returns the roles of rs not in held.
func without(rs, held []string) []string {
	var out []string
	for _, r := range rs {
		if !slices.Contains(held, r) {
			out = append(out, r)
		}
	}
	return out
}

// linked reports whether u is the user of the upstream account sub of this
// connection: the same connection, subject and issuer (OpenID Connect
// Core §2: a sub is unique only within its issuer), so that a connection
// pointed at another upstream does not hand its users to whoever has the
// same sub there. A user linked before the issuer was recorded has none.
func (c *Connection) linked(u store.User, sub string) bool {
	iss, ok := u.Attributes[attrIdPIss]
	return u.Attributes[attrIdP] == c.Name && u.Attributes[attrIdPSub] == sub && (!ok || iss == c.Issuer)
}

// linkedUser is the name of a user this connection made (its name has
// the connection's prefix, which no local user's can have) that is linked
// to the upstream account sub, or "" when there is none: an upstream
// account never takes over a local user, whatever attributes an admin
// gave it. Of several (made before one account had one user), a disabled
// one is taken, so that none of them lets in whom an admin shut out.
func (c *Connection) linkedUser(ctx context.Context, tx store.Tenant, sub string) (string, error) {
	us, err := tx.UsersLinkedTo(ctx, sub)
	if err != nil {
		return "", err
	}
	name := ""
	for _, u := range us {
		if !strings.HasPrefix(u.Username, c.Name+":") || !c.linked(u, sub) {
			continue
		}
		if u.Disabled {
			return u.Username, nil
		}
		if name == "" {
			name = u.Username
		}
	}
	return name, nil
}

func unionSorted(a, b []string) []string {
	out := append(slices.Clone(a), b...)
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) == 0 {
		return nil
	}
	return out
}

// fedStartKey counts the federated sign-ins an address started and did
// not finish.
func fedStartKey(ip netip.Addr) string { return "federation:ip:" + throttleKey(ip) }
