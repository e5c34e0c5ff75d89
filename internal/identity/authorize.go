package identity

// The authorization endpoint (RFC 6749 §4.1, OAuth 2.1, OpenID Connect Core
// §3.1.2). Until the client and its redirect URI are known good, errors are
// shown as a page and never redirected; after that they go back to the
// client with state and iss (RFC 9207). Then: sign in if needed (the login
// page returns here with the same request), ask consent for clients that
// are not first-party (the consent form's answer issues the code), and
// redirect with a single-use code that lives at most 60 seconds.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/store"
)

type authzRequest struct {
	client      store.Client
	redirectURI string // where the answer goes: the redirect_uri sent, or the one registered
	state       string
	nonce       string
	scopes      []string
	resources   []string
	challenge   string
	prompt      map[string]bool
	maxAge      int // -1 when absent
	// loginAfter (Unix seconds, 0 when absent) is when Gatehouse sent the
	// person to sign in afresh, for prompt=login or max_age=0, which the
	// login page's way back leaves out (for max_age, that time less
	// max_age): the session must be at least as new (loginAfterParam).
	loginAfter int64
	loginHint  string
	hintSub    string // sub of a valid id_token_hint
	raw        url.Values
}

// parseAuthorize validates an authorization request. page is set when the
// error must be shown rather than redirected; otherwise a non-nil *Error is
// to be redirected to req.redirectURI.
func (p *Provider) parseAuthorize(ctx context.Context, q url.Values) (req *authzRequest, page string, rerr *Error) {
	for _, k := range []string{"client_id", "redirect_uri"} {
		if len(q[k]) > 1 {
			return nil, "The request names more than one " + k + ".", nil
		}
	}
	id := q.Get("client_id")
	if id == "" {
		return nil, "The request does not say which application is asking (client_id is missing).", nil
	}
	c, err := p.client(ctx, id)
	if errors.Is(err, errClientIDTooLong) {
		return nil, fmt.Sprintf("The request's client_id is longer than %d bytes; no application has one so long.", maxClientIDLen), nil
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil, "The application asking to sign you in is not known here.", nil
	}
	if err != nil {
		p.log().ErrorContext(ctx, "authorize: read client", "err", err)
		return nil, "The request cannot be handled right now. Please try again.", nil
	}
	req = &authzRequest{client: c, raw: q, maxAge: -1, state: q.Get("state")}
	if given := q.Get("redirect_uri"); given != "" {
		if checkRedirectURI(given) != nil || !matchRedirect(c.RedirectURIs, given) {
			return nil, "The application's return address (redirect_uri) is not registered for it.", nil
		}
		req.redirectURI = given
	} else {
		if len(c.RedirectURIs) != 1 {
			return nil, "The request does not say where to return (redirect_uri is missing).", nil
		}
		req.redirectURI = c.RedirectURIs[0]
	}
	// A client that registered itself before its addresses had to be
	// ASCII (checkChosenRedirectURI) is held to that rule here: the
	// consent page would otherwise name a look-alike host.
	if selfRegistered(c) && checkChosenRedirectURI(req.redirectURI) != nil {
		return nil, "The application's return address (redirect_uri) is not a plain ASCII address, which this server requires of an application that registered itself.", nil
	}

	// From here on, errors go back to the client.
	if err := dupCheck(q); err != nil {
		return req, "", err
	}
	// A parameter sent without a value is as if omitted (RFC 6749 §3.1).
	if q.Get("request") != "" {
		return req, "", errRequestNotSupported("request objects are not supported")
	}
	if q.Get("request_uri") != "" {
		return req, "", errRequestURINotSupported("request_uri is not supported")
	}
	if rm := q.Get("response_mode"); rm != "" && rm != "query" {
		return req, "", errInvalidRequest("response_mode '%s' is not supported; use query", rm)
	}
	switch rt := q.Get("response_type"); rt {
	case "code":
	case "":
		return req, "", errInvalidRequest("response_type is required")
	default:
		return req, "", errUnsupportedResponseType("only response_type=code is supported")
	}
	if c.Kind == store.KindService {
		return req, "", errUnauthorizedClient("a service client uses client_credentials, not the authorization code")
	}
	// A client that registered its grant types without the authorization
	// code gets no code, rather than one the token endpoint would refuse.
	if e := grantRefused(c, grantCode); e != nil {
		return req, "", e
	}
	scopes, e := parseScope(q.Get("scope"))
	if e != nil {
		return req, "", e
	}
	if req.resources, e = p.resources(q["resource"]); e != nil {
		return req, "", e
	}
	// Tool scopes are checked by their spelling alone, never against the
	// catalogue (toolscope.go), so this may come before sign-in.
	req.scopes = p.requestable(scopes, req.resources)
	if e := p.checkToolScopes(req.scopes); e != nil {
		return req, "", e
	}
	// A registered client gets no scope beyond its registration.
	var refused bool
	if req.scopes, refused = p.registeredScopes(c, req.scopes); refused {
		return req, "", errBeyondRegistration(c)
	}
	if slices.Contains(req.scopes, "openid") && q.Get("redirect_uri") == "" {
		return req, "", errInvalidRequest("redirect_uri is required for an OpenID Connect request")
	}
	// PKCE (RFC 7636) with S256 only: a missing method means plain, which
	// is refused like plain itself.
	req.challenge = q.Get("code_challenge")
	method := q.Get("code_challenge_method")
	switch {
	case req.challenge == "" && method != "":
		return req, "", errInvalidRequest("code_challenge_method without code_challenge")
	case req.challenge == "":
		return req, "", errInvalidRequest("code_challenge is required (PKCE with S256)")
	case method != "S256":
		return req, "", errInvalidRequest("code_challenge_method must be S256")
	case !validChallenge(req.challenge):
		return req, "", errInvalidRequest("code_challenge must be 43 base64url characters (the S256 of the verifier)")
	}
	req.nonce = q.Get("nonce")
	if len(req.nonce) > 512 || len(req.state) > 2048 {
		return req, "", errInvalidRequest("state or nonce is too long")
	}
	req.prompt = map[string]bool{}
	for _, v := range strings.Fields(q.Get("prompt")) {
		req.prompt[v] = true // unknown values are ignored
	}
	if req.prompt["none"] && len(req.prompt) > 1 {
		return req, "", errInvalidRequest("prompt=none cannot be combined with other values")
	}
	if ma := q.Get("max_age"); ma != "" {
		n, err := strconv.Atoi(ma)
		if err != nil || n < 0 {
			return req, "", errInvalidRequest("max_age must be a non-negative integer")
		}
		req.maxAge = n
	}
	if la := q.Get(loginAfterParam); la != "" {
		n, err := strconv.ParseInt(la, 10, 64)
		if err != nil || n <= 0 {
			return req, "", errInvalidRequest("%s must be a positive integer", loginAfterParam)
		}
		req.loginAfter = n
	}
	req.loginHint = q.Get("login_hint")
	if h := q.Get("id_token_hint"); h != "" {
		claims, err := p.parseIDToken(h)
		if err != nil {
			return req, "", errInvalidRequest("id_token_hint is not an ID token of this issuer")
		}
		req.hintSub = claims.Subject
	}
	return req, "", nil
}

// validChallenge: the base64url (no padding) of a SHA-256, 43 characters.
func validChallenge(s string) bool {
	if len(s) != 43 {
		return false
	}
	return validVerifierChars(s)
}

func validVerifierChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}

func (p *Provider) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodHead {
		// A HEAD must not issue a code.
		w.Header().Set("Allow", "GET, POST")
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	q, ferr := parseForm(w, r)
	if q == nil {
		p.errorPage(w, r, http.StatusBadRequest, ferr.Description)
		return
	}
	req, page, rerr := p.parseAuthorize(r.Context(), q)
	if page != "" {
		p.errorPage(w, r, http.StatusBadRequest, page)
		return
	}
	if rerr != nil {
		p.redirectError(w, r, req, rerr)
		return
	}
	sess, user, ok := p.sessionUser(r)
	if p.needsLogin(req, sess, user, ok) {
		if req.prompt["none"] {
			p.redirectError(w, r, req, errLoginRequired("the user is not signed in"))
			return
		}
		if ok && p.staleSignIn(req, sess) {
			// Back from the login page with a sign-in older than the
			// request that demanded a fresh one: an upstream provider
			// answered from a session it already had, or the way back
			// was taken without signing in. OpenID Connect: an error.
			p.redirectError(w, r, req, errLoginRequired("a fresh sign-in was asked for, and the person's sign-in is older than the request"))
			return
		}
		// The login page comes back with this request, minus what asked
		// for a fresh login (else it would ask forever) and with when it
		// was asked for instead.
		next := cloneValues(q)
		next.Del("prompt")
		fresh := req.prompt["login"] || req.maxAge == 0
		if req.maxAge == 0 {
			next.Del("max_age")
		}
		switch {
		case fresh:
			next.Set(loginAfterParam, strconv.FormatInt(p.now().Unix(), 10))
		case req.maxAge > 0 && p.now().Unix()-int64(req.maxAge) > 0:
			// The sign-in must be within max_age of now: one an upstream
			// answers from an older session gets the app login_required,
			// not this page again, and again. (A max_age reaching back
			// past 1970 asks for nothing: any sign-in is new enough.)
			next.Set(loginAfterParam, strconv.FormatInt(p.now().Unix()-int64(req.maxAge), 10))
		}
		// Joined once: appending each value to the parameter cost the
		// square of an unauthenticated request's length.
		var kept []string
		for v := range req.prompt {
			if v != "login" && v != "select_account" {
				kept = append(kept, v)
			}
		}
		if len(kept) > 0 {
			next.Set("prompt", strings.Join(kept, " "))
		}
		login := p.url(pathLogin) + "?authz=" + url.QueryEscape(next.Encode())
		if fresh {
			// The login page asks an upstream provider for a fresh
			// sign-in too (handleFederatedStart).
			login += "&fresh=1"
		}
		http.Redirect(w, r, login, http.StatusSeeOther)
		return
	}
	need, err := p.needsConsent(r.Context(), req, user.Username)
	if err != nil {
		p.redirectError(w, r, req, errServer(err))
		return
	}
	if need {
		if req.prompt["none"] {
			p.redirectError(w, r, req, errConsentRequired("the user has not consented to this client"))
			return
		}
		p.consentPage(w, r, req, sess, user)
		return
	}
	p.issueCode(w, r, req, sess)
}

// loginAfterParam carries authzRequest.loginAfter through the login page.
// It only ever asks for more (a newer sign-in), so a request that comes
// with it from elsewhere gains nothing by it.
const loginAfterParam = "login_after"

// staleSignIn reports whether the session's sign-in is older than the
// fresh one req asked for (loginAfter). A federated sign-in's time is an
// upstream provider's auth_time, read on another clock, so it is allowed
// that clock's skew; a local sign-in is timed on a replica's clock and is
// allowed only what replicas' clocks may differ by (localSkewSeconds),
// else prompt=login would pass a password sign-in a minute old.
func (p *Provider) staleSignIn(req *authzRequest, s store.LoginSession) bool {
	if req.loginAfter == 0 {
		return false
	}
	at := s.AuthTime.Unix() + localSkewSeconds
	if s.Method == "fed" {
		at = s.AuthTime.Unix() + skewSeconds
	}
	return at < req.loginAfter
}

// localSkewSeconds is how far apart two replicas' clocks may be when one
// asks for a fresh sign-in and another records it: without it, a person
// whose sign-in lands on a replica a second behind would be sent back to
// the login page again and again.
const localSkewSeconds = 2

func (p *Provider) needsLogin(req *authzRequest, s store.LoginSession, u store.User, ok bool) bool {
	switch {
	case !ok, req.prompt["login"], req.prompt["select_account"], req.maxAge == 0, p.staleSignIn(req, s):
		return true
	case req.maxAge > 0 && p.now().Unix()-s.AuthTime.Unix() > int64(req.maxAge):
		return true
	case req.hintSub != "" && req.hintSub != u.Username:
		return true
	}
	return false
}

func (p *Provider) needsConsent(ctx context.Context, req *authzRequest, username string) (bool, error) {
	if req.prompt["consent"] {
		return true, nil // asked for, also of a first-party client
	}
	if req.client.FirstParty {
		return false, nil
	}
	c, err := p.Store.Identity().Consent(ctx, username, req.client.ClientID)
	if errors.Is(err, store.ErrNotFound) || err == nil && !since(req.client, c.GrantedAt) {
		return true, nil // none, or given to an earlier client of this ID
	}
	if err != nil {
		return false, err
	}
	if d := consentDest(req.client, req.redirectURI); d != "" && !slices.Contains(c.SendsTo, d) {
		return true, nil // given for another destination than this request's
	}
	return !coveredBy(req.scopes, c.Scopes) || !subset(p.requestResources(req), p.consentResources(c)), nil
}

// consentDest is where a consent to a client that chose its own redirect
// URIs lets the browser go with a code: what the consent page names as
// where it is sent (sendsTo), as a consent keeps it (store.Consent.SendsTo).
// The client's name proves nothing, and its redirect URIs are its own to
// change (a metadata document) or to have registered beside a known
// app's: a consent given on a page naming one host must not let a code go
// to another. A loopback redirect is the host without its port, which a
// native app picks afresh each run (RFC 8252 §7.3) and matchRedirect
// ignores. "" for a tenant's client, whose consent covers all its
// redirect URIs, set up by the organization.
func consentDest(c store.Client, redirectURI string) string {
	if !selfRegistered(c) {
		return ""
	}
	u, err := url.Parse(redirectURI)
	if err != nil {
		return "?" // covered by no consent
	}
	switch scheme := strings.ToLower(u.Scheme); scheme {
	case "https":
		return "https://" + strings.ToLower(u.Host)
	case "http":
		return "http://" + strings.ToLower(u.Hostname())
	default:
		return scheme + ":"
	}
}

// scopeText says in words what a scope lets a client do.
var scopeText = map[string]string{
	"openid":         "know who you are (your username)",
	"profile":        "see your profile (username)",
	"email":          "see your email address",
	"offline_access": "keep access while you are away",
}

func (p *Provider) consentPage(w http.ResponseWriter, r *http.Request, req *authzRequest, s store.LoginSession, u store.User) {
	var lines, tools []string
	for _, sc := range req.scopes {
		if t, ok := scopeText[sc]; ok {
			lines = append(lines, t)
		} else if name, ok := strings.CutPrefix(sc, toolScopePrefix); ok {
			tools = append(tools, name)
		} else {
			lines = append(lines, "use the permission "+sc)
		}
	}
	// What a token for another resource than /mcp lets the client do
	// is said in full: the person's own rights there, unchecked by the
	// gateway's policy (the admin API: everyone's audit trail).
	for _, res := range p.requestResources(req) {
		switch text, ok := p.ResourceText[res]; {
		case res == p.MCPResource:
		case ok:
			lines = append(lines, text)
		default:
			lines = append(lines, "act as you at "+res)
		}
	}
	mcp := p.forMCP(p.requestResources(req))
	switch {
	case !mcp:
		// Tools are called at /mcp only: nothing to say of them.
	case tools != nil:
		lines = append(lines, "call these tools for you, within your own permissions: "+strings.Join(tools, ", "))
	default:
		lines = append(lines, "call tools for you, within your own permissions")
	}
	res := req.resources
	if len(res) == 0 {
		res = []string{p.MCPResource}
	}
	name := req.client.Name
	if name == "" {
		name = req.client.ClientID
	}
	// The answer is for the redirect URI this page names: one the request
	// left to the registration is written into the request the form
	// carries, so that a client whose registration changes before the
	// person answers (a metadata document) does not have the code sent to
	// an address the page never showed.
	authz := req.raw
	if authz.Get("redirect_uri") == "" {
		authz = cloneValues(authz)
		authz.Set("redirect_uri", req.redirectURI)
	}
	p.renderPage(w, r, http.StatusOK, "consent", pageData{
		Title: "Allow access", Action: p.url(pathConsent), CSRF: s.CSRF, Authz: authz.Encode(),
		Username: u.Username, Client: name, ClientID: req.client.ClientID, Scopes: lines, Resources: res, MCP: mcp,
		SelfRegistered: selfRegistered(req.client), SendsTo: sendsTo(req.client, req.redirectURI),
	})
}

// sendsTo is what the consent page says of where the browser goes once
// the person allows, for a client that registered itself: its name
// proves nothing and its ID is random, but where it sends the code tells
// an app that took a known app's name from that app. "" for a tenant's
// client, which the organization set up. For a private-use scheme (RFC
// 8252 §7.1) it is the scheme alone: such a URI goes to whatever handles
// the scheme (an app, or a web site that made itself the handler of a
// web+ scheme), and a host it names ("app://claude.ai/cb") is not where
// the code goes.
func sendsTo(c store.Client, redirectURI string) string {
	if !selfRegistered(c) {
		return ""
	}
	u, err := url.Parse(redirectURI)
	if err != nil {
		return ""
	}
	if scheme := strings.ToLower(u.Scheme); scheme != "https" && scheme != "http" {
		return scheme + ":"
	}
	return u.Host
}

// handleConsent takes the consent form's answer: it re-validates the
// authorization request the form carries, then issues the code or sends
// access_denied.
func (p *Provider) handleConsent(w http.ResponseWriter, r *http.Request) {
	form, ferr := parseForm(w, r)
	if ferr != nil {
		p.errorPage(w, r, http.StatusBadRequest, ferr.Description)
		return
	}
	sess, user, ok := p.sessionUser(r)
	if !ok {
		p.errorPage(w, r, http.StatusForbidden, "Your session has ended. Start again from the application.")
		return
	}
	if !equalSecret(sess.CSRF, form.Get("csrf")) {
		p.errorPage(w, r, http.StatusForbidden, "This form has expired. Start again from the application.")
		return
	}
	q, err := url.ParseQuery(form.Get("authz"))
	if err != nil {
		p.errorPage(w, r, http.StatusBadRequest, "The request is malformed.")
		return
	}
	req, page, rerr := p.parseAuthorize(r.Context(), q)
	if page != "" {
		p.errorPage(w, r, http.StatusBadRequest, page)
		return
	}
	if rerr != nil {
		p.redirectError(w, r, req, rerr)
		return
	}
	ctx := r.Context()
	// Both answers go to the audit trail: who, which client, what it asked
	// for (scopes and resources, as the consent page showed them).
	ev := audit.Event{Session: sess.ID, Actor: user.Username, Agent: req.client.ClientID,
		RemoteAddr: addrString(p.clientIP(r)),
		Detail:     map[string]any{"scopes": req.scopes, "resources": p.requestResources(req)}}
	if form.Get("decision") != "allow" {
		// The session's form posts as often as one likes: the records
		// are bounded per address (recordRefusal), past which the client
		// is told to try later.
		ev.Type, ev.Decision = audit.ConsentDenied, "deny"
		e := errAccessDenied("the user denied access")
		if t := p.recordRefusal(ctx, r, ev); t != nil {
			e = t
		}
		p.redirectError(w, r, req, e)
		return
	}
	// The sign-in must still be what the request asks for (max_age, a
	// fresh sign-in, the hinted person): a consent page left open past
	// max_age goes back to /authorize, which asks for a sign-in again.
	if p.needsLogin(req, sess, user, true) {
		http.Redirect(w, r, p.url(pathAuthorize)+"?"+q.Encode(), http.StatusSeeOther)
		return
	}
	// The consent adds to what the person allowed before (what a token
	// exchange by this client may then reach too), where adding keeps it
	// exact: a consent is its scopes at each of its resources, so scopes
	// add up for the same resources, resources for the same scopes, and
	// otherwise the new consent replaces the old (adding both would give
	// each resource the other's scopes: a consent at the admin API
	// naming no tool would read as every tool at /mcp).
	// Where the browser was said to go (consentDest) adds up likewise,
	// and a replaced consent keeps only this request's.
	scopes, resources := mergeSorted(req.scopes, nil), mergeSorted(p.requestResources(req), nil)
	var dests []string
	if d := consentDest(req.client, req.redirectURI); d != "" {
		dests = []string{d}
	}
	if old, err := p.Store.Identity().Consent(ctx, user.Username, req.client.ClientID); err == nil && since(req.client, old.GrantedAt) {
		switch oldRes := mergeSorted(p.consentResources(old), nil); {
		case slices.Equal(resources, oldRes):
			scopes = widestOf(scopes, old.Scopes)
			dests = mergeDests(dests, old.SendsTo)
		case slices.Equal(scopes, mergeSorted(old.Scopes, nil)):
			resources = mergeSorted(resources, oldRes)
			dests = mergeDests(dests, old.SendsTo)
		}
	}
	err = p.Store.Identity().SetConsent(ctx, store.Consent{Username: user.Username, ClientID: req.client.ClientID,
		Scopes: scopes, Resources: resources, SendsTo: dests, GrantedAt: p.now().UTC().Truncate(time.Microsecond)})
	if err == nil {
		ev.Type, ev.Decision = audit.ConsentGranted, "allow"
		err = p.record(ctx, ev)
	}
	if err != nil {
		p.redirectError(w, r, req, errServer(err))
		return
	}
	p.issueCode(w, r, req, sess)
}

func (p *Provider) issueCode(w http.ResponseWriter, r *http.Request, req *authzRequest, s store.LoginSession) {
	code := randomToken(prefixCode)
	c := store.AuthCode{
		Hash: digest(code), ClientID: req.client.ClientID, RedirectURI: req.redirectURI, Username: s.Username,
		SessionID: s.ID, AuthTime: s.AuthTime, Method: s.Method, Scope: joinScope(req.scopes), Resources: req.resources,
		Nonce: req.nonce, CodeChallenge: req.challenge, GrantID: randomID(),
		ExpiresAt: p.now().Add(p.codeTTL()).UTC().Truncate(time.Microsecond), SessionExpiresAt: s.ExpiresAt,
	}
	if err := p.Store.Identity().CreateAuthCode(r.Context(), c); err != nil {
		p.redirectError(w, r, req, errServer(err))
		return
	}
	// The session and its user were read before the code was stored: an
	// admin's new password, removal or disabling (with EndUser) may have
	// ended the session since, and the code, stored after EndUser deleted
	// the person's codes, would open a grant nothing revoked (with
	// offline_access, refresh tokens for 90 days). So the session is asked
	// for again now (sessionStands), as a redemption asks for its code
	// again. Gone, the code is not given out: it exists only in the store,
	// where nobody can redeem it, and expires unused. The request goes
	// back to /authorize, which finds no session, as if it had ended
	// before: the login page, or login_required for prompt=none.
	stands, err := p.sessionStands(r.Context(), s)
	if err != nil {
		p.redirectError(w, r, req, errServer(err))
		return
	}
	if !stands {
		if req.prompt["none"] {
			p.redirectError(w, r, req, errLoginRequired("the user is not signed in"))
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, p.url(pathAuthorize)+"?"+req.raw.Encode(), http.StatusSeeOther)
		return
	}
	p.redirectWith(w, r, req.redirectURI, url.Values{"code": {code}}, req.state)
}

// redirectError sends an authorization error back to the client, or shows
// it when the client's redirect URIs cannot be trusted (redirectguard.go).
func (p *Provider) redirectError(w http.ResponseWriter, r *http.Request, req *authzRequest, e *Error) {
	if e.Code == "server_error" {
		p.log().ErrorContext(r.Context(), "authorize failed", "err", e.cause)
	}
	if !p.mayRedirectError(r, req.client, req.redirectURI) {
		p.refusedPage(w, r, req.client, e)
		return
	}
	v := url.Values{"error": {e.Code}}
	if e.Description != "" {
		v.Set("error_description", e.Description)
	}
	p.redirectWith(w, r, req.redirectURI, v, req.state)
}

// redirectWith adds the parameters, state and iss (RFC 9207) to the
// redirect URI's own query, keeping that query as it was.
func (p *Provider) redirectWith(w http.ResponseWriter, r *http.Request, target string, v url.Values, state string) {
	if state != "" {
		v.Set("state", state)
	}
	v.Set("iss", p.Issuer)
	sep := "?"
	if strings.Contains(target, "?") {
		sep = "&"
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Location", target+sep+v.Encode())
	w.WriteHeader(http.StatusSeeOther)
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}

// idTokenClaims is an ID token's payload.
type idTokenClaims struct {
	Issuer            string   `json:"iss"`
	Subject           string   `json:"sub"`
	Audience          audience `json:"aud"`
	Expiry            int64    `json:"exp"`
	IssuedAt          int64    `json:"iat"`
	AuthTime          int64    `json:"auth_time,omitempty"`
	Nonce             string   `json:"nonce,omitempty"`
	SessionID         string   `json:"sid,omitempty"`
	AtHash            string   `json:"at_hash,omitempty"`
	AMR               []string `json:"amr,omitempty"`
	PreferredUsername string   `json:"preferred_username,omitempty"`
	Email             string   `json:"email,omitempty"`
}

// audience reads a string or an array; it writes a string when it has one.
type audience []string

func (a audience) MarshalJSON() ([]byte, error) {
	if len(a) == 1 {
		return json.Marshal(a[0])
	}
	return json.Marshal([]string(a))
}

func (a *audience) UnmarshalJSON(b []byte) error {
	var one string
	if json.Unmarshal(b, &one) == nil {
		*a = audience{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*a = many
	return nil
}

// parseIDToken verifies an ID token this issuer signed. Expiry is not
// checked: hints may be expired (OpenID Connect Core §3.1.2.1).
func (p *Provider) parseIDToken(tok string) (idTokenClaims, error) {
	var c idTokenClaims
	payload, err := p.Keys.Verify(tok, idTokenType)
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return c, err
	}
	if c.Issuer != p.Issuer || c.Subject == "" || len(c.Audience) == 0 {
		return c, errors.New("not an ID token of this issuer")
	}
	return c, nil
}
