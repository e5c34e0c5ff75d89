package identity

// Dynamic client registration (RFC 7591), open as MCP clients need it.
// Registered clients join the tenant's clients with Source "registered" and
// Kind "agent", so they are listed, audited and governed like every other
// client; they are never first-party, so a person consents before one acts.
// The grant types and token endpoint authentication method a client
// registers are stored and are all it may use; its ID tokens are signed
// with the id_token_signed_response_alg it registers (RS256 by default).
// Its scope, narrowed to the scopes the server offers, is stored and limits
// what it is granted (registeredScopes).
// Registrations are counted per client address (IPv6: per /64) in the
// database.

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/slipverify"
)

// clientMetadata is the RFC 7591 §2 metadata the provider reads and echoes.
type clientMetadata struct {
	RedirectURIs            []string `json:"redirect_uris,omitempty"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method,omitempty"`
	GrantTypes              []string `json:"grant_types,omitempty"`
	ResponseTypes           []string `json:"response_types,omitempty"`
	ClientName              string   `json:"client_name,omitempty"`
	ClientURI               string   `json:"client_uri,omitempty"`
	LogoURI                 string   `json:"logo_uri,omitempty"`
	Scope                   string   `json:"scope,omitempty"`
	Contacts                []string `json:"contacts,omitempty"`
	TosURI                  string   `json:"tos_uri,omitempty"`
	PolicyURI               string   `json:"policy_uri,omitempty"`
	SoftwareID              string   `json:"software_id,omitempty"`
	SoftwareVersion         string   `json:"software_version,omitempty"`
	ApplicationType         string   `json:"application_type,omitempty"`
	PostLogoutRedirectURIs  []string `json:"post_logout_redirect_uris,omitempty"`
	// OpenID Connect Dynamic Client Registration 1.0 §2.
	IDTokenSignedResponseAlg string `json:"id_token_signed_response_alg,omitempty"`
}

type registrationResponse struct {
	ClientID              string `json:"client_id"`
	ClientSecret          string `json:"client_secret,omitempty"`
	ClientIDIssuedAt      int64  `json:"client_id_issued_at"`
	ClientSecretExpiresAt *int64 `json:"client_secret_expires_at,omitempty"`
	clientMetadata
}

// checkRedirectURI accepts an absolute URI without a fragment that is
// https, http on a loopback host (RFC 8252 §7.3), or a private-use scheme of
// a native app (RFC 8252 §7.1), and refuses schemes a browser would run.
func checkRedirectURI(s string) error {
	if len(s) > 2000 {
		return errors.New("redirect URI too long")
	}
	u, err := url.Parse(s)
	if err != nil || !u.IsAbs() {
		return errors.New("a redirect URI must be an absolute URI")
	}
	if u.Fragment != "" || strings.Contains(s, "#") {
		return errors.New("a redirect URI must not have a fragment")
	}
	switch scheme := strings.ToLower(u.Scheme); scheme {
	case "https":
		if u.Host == "" {
			return errors.New("an https redirect URI needs a host")
		}
	case "http":
		if !isLoopbackHost(u.Hostname()) {
			return errors.New("http redirect URIs are allowed only on loopback (127.0.0.1, [::1], localhost)")
		}
	case "javascript", "data", "vbscript", "file", "about", "blob", "filesystem", "ftp", "ws", "wss", "mailto", "tel":
		return errors.New("the redirect URI scheme " + scheme + " is not allowed")
	}
	if u.User != nil {
		return errors.New("a redirect URI must not carry credentials")
	}
	return nil
}

// checkChosenRedirectURI is checkRedirectURI for an address a client
// chose itself (registration, a metadata document), which must moreover be
// printable ASCII, as a URI is (RFC 3986): an internationalized host is
// given in its xn-- form. The consent page names the host such a client
// sends the code to, because its name proves nothing; a host of look-alike
// letters ("аpple.com" with a Cyrillic а) or one holding a bidirectional
// override would have that line name a site the client is not.
func checkChosenRedirectURI(s string) error {
	if err := checkRedirectURI(s); err != nil {
		return err
	}
	if !printableASCII(s) {
		return errors.New("a redirect URI must be printable ASCII: an internationalized host is written in its xn-- form, other characters percent-encoded")
	}
	return nil
}

// printableASCII reports whether s holds only printable ASCII characters
// other than the space.
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

func checkHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" && len(s) <= 2000
}

func (p *Provider) handleRegister(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if p.DisableRegistration {
		p.writeError(w, r, errAccessDenied("dynamic client registration is disabled"))
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		p.writeError(w, r, errInvalidClientMetadata("the body must be application/json"))
		return
	}
	ip := p.clientIP(r)
	// Counted like failed logins: an IPv6 client by its /64 (throttleKey).
	limit := orDefault(p.RegistrationsPerIP, 100)
	n, err := p.countUnlessPast(ctx, "register:ip:"+throttleKey(ip), limit, time.Hour)
	if err != nil {
		p.writeError(w, r, errServer(err))
		return
	}
	if n > limit {
		p.writeError(w, r, errTemporarilyUnavailable("too many registrations from this address; try later"))
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxForm+1))
	if err != nil || len(body) > maxForm {
		p.writeError(w, r, errInvalidClientMetadata("the body is too large or unreadable"))
		return
	}
	// One meaning only: a field given twice (or twice but for case, which
	// encoding/json folds) or text that is not UTF-8 is refused, not
	// decided by whichever the decoder keeps.
	if _, err := slipverify.Canonical(body); err != nil {
		p.writeError(w, r, errInvalidClientMetadata("the body is not one JSON object of client metadata: a field is given twice, or it is not valid UTF-8 JSON"))
		return
	}
	var m clientMetadata
	if err := json.Unmarshal(body, &m); err != nil {
		p.writeError(w, r, errInvalidClientMetadata("the body is not a JSON object of client metadata"))
		return
	}
	scopeAsked := m.Scope != ""
	if e := p.normalizeMetadata(&m); e != nil {
		p.writeError(w, r, e)
		return
	}
	now := p.now()
	// What the client registered is what it may do: its grant types and
	// its one authentication method are kept and enforced at /token, its
	// scope at /authorize and /token (registeredScopes).
	c := store.Client{ClientID: "dcr_" + randomID(), Name: m.ClientName, Kind: store.KindAgent,
		RedirectURIs: m.RedirectURIs, PostLogoutRedirectURIs: m.PostLogoutRedirectURIs, Source: store.SourceRegistered,
		GrantTypes: m.GrantTypes, TokenEndpointAuthMethod: m.TokenEndpointAuthMethod,
		IDTokenSignedResponseAlg: m.IDTokenSignedResponseAlg}
	resp := registrationResponse{ClientID: c.ClientID, ClientIDIssuedAt: now.Unix(), clientMetadata: m}
	switch {
	case m.Scope != "":
		c.Scopes, _ = parseScope(m.Scope)
	case scopeAsked:
		// Nothing offered here was asked for: the default (no limit)
		// replaces it, and the answer names it.
		resp.Scope = joinScope(p.scopes)
	}
	if m.TokenEndpointAuthMethod != authNone {
		// 256 random bits: a SHA-256 digest keeps it safe, and checking it
		// costs no argon2 (which belongs to login).
		resp.ClientSecret = randomToken(prefixSecret)
		c.SecretHash = secretDigest(resp.ClientSecret)
		never := int64(0)
		resp.ClientSecretExpiresAt = &never
	}
	if err := p.Store.Clients().Create(ctx, c); err != nil {
		p.writeError(w, r, errServer(err))
		return
	}
	err = p.record(ctx, audit.Event{Type: audit.ClientRegistered, Agent: c.ClientID, Status: "ok",
		RemoteAddr: addrString(ip), Detail: map[string]any{"client_name": m.ClientName,
			"redirect_uris": m.RedirectURIs, "token_endpoint_auth_method": m.TokenEndpointAuthMethod,
			"grant_types": m.GrantTypes, "software_id": m.SoftwareID,
			"id_token_signed_response_alg": m.IDTokenSignedResponseAlg, "scope": m.Scope}})
	if err != nil {
		_ = p.Store.Clients().Delete(ctx, c.ClientID)
		p.writeError(w, r, errServer(err))
		return
	}
	writeJSON(w, http.StatusCreated, resp)
}

// normalizeMetadata applies RFC 7591 §2 defaults and refuses what the
// provider cannot honour.
func (p *Provider) normalizeMetadata(m *clientMetadata) *Error {
	if m.TokenEndpointAuthMethod == "" {
		m.TokenEndpointAuthMethod = authBasic
	}
	if !slices.Contains([]string{authBasic, authPost, authNone}, m.TokenEndpointAuthMethod) {
		return errInvalidClientMetadata("token_endpoint_auth_method must be client_secret_basic, client_secret_post or none")
	}
	if len(m.GrantTypes) == 0 {
		m.GrantTypes = []string{grantCode}
	}
	if len(m.ResponseTypes) == 0 {
		m.ResponseTypes = []string{"code"}
	}
	for _, g := range m.GrantTypes {
		switch g {
		case grantCode, grantRefresh:
		case grantClientCredentials:
			// Tokens with no person behind them, for whoever asks:
			// service clients are an admin's to add.
			return errInvalidClientMetadata("grant type client_credentials is not open to registration: an admin adds service clients")
		case grantTokenExchange:
			if m.TokenEndpointAuthMethod == authNone {
				return errInvalidClientMetadata("grant type %s needs a confidential client", g)
			}
		default:
			return errInvalidClientMetadata("grant type '%s' is not supported", g)
		}
	}
	if !slices.Equal(m.ResponseTypes, []string{"code"}) {
		return errInvalidClientMetadata("response_types must be [\"code\"]")
	}
	code := slices.Contains(m.GrantTypes, grantCode)
	if code && len(m.RedirectURIs) == 0 {
		return errInvalidRedirectURI("redirect_uris is required for the authorization_code grant")
	}
	if len(m.RedirectURIs) > 20 || len(m.PostLogoutRedirectURIs) > 20 {
		return errInvalidClientMetadata("too many redirect URIs")
	}
	for _, u := range m.RedirectURIs {
		if err := checkChosenRedirectURI(u); err != nil {
			return errInvalidRedirectURI("%s: %s", u, err.Error())
		}
	}
	for _, u := range m.PostLogoutRedirectURIs {
		if err := checkChosenRedirectURI(u); err != nil {
			return errInvalidClientMetadata("post_logout_redirect_uris: %s", err.Error())
		}
	}
	// ID tokens are signed with an algorithm the key manager has; RS256
	// is the default (OpenID Connect Registration §2), echoed as such.
	// "none" and algorithms without a key here are refused.
	if m.IDTokenSignedResponseAlg == "" {
		m.IDTokenSignedResponseAlg = keys.RS256
	}
	if !slices.Contains(idTokenAlgs, m.IDTokenSignedResponseAlg) {
		return errInvalidClientMetadata("id_token_signed_response_alg must be one of %s", strings.Join(idTokenAlgs, ", "))
	}
	if m.ApplicationType != "" && m.ApplicationType != "web" && m.ApplicationType != "native" {
		return errInvalidClientMetadata("application_type must be web or native")
	}
	if len(m.ClientName) > 200 || len(m.SoftwareID) > 200 || len(m.SoftwareVersion) > 100 || len(m.Contacts) > 10 {
		return errInvalidClientMetadata("a metadata value is too long")
	}
	// The name is shown on the login, consent and error pages.
	if msg := store.CheckDisplayName(m.ClientName); msg != "" {
		return errInvalidClientMetadata("client_name %s", msg)
	}
	for _, u := range []string{m.ClientURI, m.LogoURI, m.TosURI, m.PolicyURI} {
		if u != "" && !checkHTTPURL(u) {
			return errInvalidClientMetadata("client_uri, logo_uri, tos_uri and policy_uri must be http(s) URLs")
		}
	}
	// The registered scope is what the client may be granted. Scopes the
	// server advertises are kept; others (tool scopes among them, which
	// registration does not take: toolscope.go) are dropped (RFC 7591 §2:
	// the server may replace requested metadata values). When nothing the
	// server offers is left, the server's default — every scope it
	// offers, no limit — replaces it (handleRegister) and is echoed, so
	// that the client knows (MCP clients in the wild register names of
	// their own).
	if m.Scope != "" {
		asked, e := parseScope(m.Scope)
		if e != nil {
			return errInvalidClientMetadata("scope is malformed")
		}
		m.Scope = joinScope(p.grantable(asked))
	}
	return nil
}

// registeredScopes limits scopes to what client registered (RFC 7591
// scope, store.Client.Scopes); a client that registered none is not
// limited. Tool scopes pass: one only narrows a token (toolscope.go), and
// registration does not take them. Scopes beyond the registration are
// dropped, as RFC 6749 §3.3 lets the server grant less than asked (the
// token response names the scope granted); refused reports that scopes
// were asked for and every one was beyond it, which the caller answers
// with invalid_scope when the client named them itself.
func (p *Provider) registeredScopes(client store.Client, scopes []string) (kept []string, refused bool) {
	if len(client.Scopes) == 0 {
		return scopes, false
	}
	dropped := 0
	for _, s := range scopes {
		if p.dynamicToolScope(s) || slices.Contains(client.Scopes, s) {
			kept = append(kept, s)
		} else {
			dropped++
		}
	}
	return kept, dropped > 0 && len(kept) == 0
}

// errBeyondRegistration is the invalid_scope of a request whose scopes
// are all beyond what the client registered.
func errBeyondRegistration(client store.Client) *Error {
	return errInvalidScope("the client registered the scope '%s'; the request asks for none of it", joinScope(client.Scopes))
}
