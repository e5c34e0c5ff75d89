package identity

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// walk is a browser going through login and consent until the provider
// redirects to the client; it returns that redirect.
func (h *harness) walk(b *http.Client, start, redirectPrefix, user string) (*url.URL, error) {
	next, method, form := start, "GET", url.Values(nil)
	for range 10 {
		var resp *http.Response
		var err error
		if method == "GET" {
			resp, err = b.Get(next)
		} else {
			resp, err = b.PostForm(next, form)
		}
		if err != nil {
			return nil, err
		}
		html := body(h.t, resp)
		if resp.StatusCode == http.StatusSeeOther {
			loc, _ := resp.Location()
			if strings.HasPrefix(loc.String(), redirectPrefix) {
				return loc, nil
			}
			next, method = loc.String(), "GET"
			continue
		}
		if resp.StatusCode != 200 {
			return nil, fmt.Errorf("%s: %d %s", next, resp.StatusCode, html)
		}
		csrf := csrfRE.FindStringSubmatch(html)
		switch {
		case strings.Contains(html, `name="password"`) && csrf != nil:
			form = url.Values{"csrf": {csrf[1]}, "username": {user}, "password": {pw}}
			if m := authzRE.FindStringSubmatch(html); m != nil {
				form.Set("authz", unescapeHTML(m[1]))
			}
			next = h.url("/login")
		case strings.Contains(html, `name="decision"`) && csrf != nil:
			m := authzRE.FindStringSubmatch(html)
			form = url.Values{"csrf": {csrf[1]}, "authz": {unescapeHTML(m[1])}, "decision": {"allow"}}
			next = h.url("/consent")
		default:
			return nil, fmt.Errorf("unexpected page at %s: %s", next, html)
		}
		method = "POST"
	}
	return nil, fmt.Errorf("too many steps")
}

// TestGoMCPSDKAuthPeer runs the official Go MCP SDK's OAuth client
// (auth.AuthorizationCodeHandler) against the provider, once with dynamic
// registration and once with a client ID metadata document.
func TestGoMCPSDKAuthPeer(t *testing.T) {
	m := newMetadataServer(t)
	roots := m.srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	const redirect = "http://127.0.0.1:47999/callback"
	m.docs["/go-client.json"] = jsonDoc(map[string]any{"client_name": "Go SDK peer", "redirect_uris": []string{redirect},
		"token_endpoint_auth_method": "none", "grant_types": []string{"authorization_code", "refresh_token"}})

	for _, mode := range []string{"registration", "metadata document"} {
		t.Run(mode, func(t *testing.T) {
			h := newHarness(t, func(p *Provider) { p.AllowPrivateMetadataHosts = true; p.MetadataRootCAs = roots })
			resource := h.srv.URL + "/mcp"
			h.mux.Handle("GET /.well-known/oauth-protected-resource/mcp", auth.ProtectedResourceMetadataHandler(
				&oauthex.ProtectedResourceMetadata{Resource: resource, AuthorizationServers: []string{h.srv.URL}}))
			b := h.browser()
			cfg := &auth.AuthorizationCodeHandlerConfig{
				RedirectURL: redirect,
				AuthorizationCodeFetcher: func(ctx context.Context, args *auth.AuthorizationArgs) (*auth.AuthorizationResult, error) {
					loc, err := h.walk(b, args.URL, redirect, "alice")
					if err != nil {
						return nil, err
					}
					q := loc.Query()
					return &auth.AuthorizationResult{Code: q.Get("code"), State: q.Get("state"), Iss: q.Get("iss")}, nil
				},
			}
			if mode == "registration" {
				cfg.DynamicClientRegistrationConfig = &auth.DynamicClientRegistrationConfig{
					Metadata: &oauthex.ClientRegistrationMetadata{RedirectURIs: []string{redirect}, ClientName: "Go SDK peer",
						TokenEndpointAuthMethod: "none", GrantTypes: []string{"authorization_code", "refresh_token"}}}
			} else {
				cfg.ClientIDMetadataDocumentConfig = &auth.ClientIDMetadataDocumentConfig{URL: m.srv.URL + "/go-client.json"}
			}
			handler, err := auth.NewAuthorizationCodeHandler(cfg)
			if err != nil {
				t.Fatal(err)
			}
			req, _ := http.NewRequest("POST", resource, nil)
			unauthorized := &http.Response{StatusCode: http.StatusUnauthorized, Body: http.NoBody, Header: http.Header{
				"Www-Authenticate": {`Bearer resource_metadata="` + h.srv.URL + `/.well-known/oauth-protected-resource/mcp"`}}}
			if err := handler.Authorize(t.Context(), req, unauthorized); err != nil {
				t.Fatalf("Authorize: %v", err)
			}
			ts, _ := handler.TokenSource(t.Context())
			tok, err := ts.Token()
			if err != nil {
				t.Fatal(err)
			}
			c := claims(t, tok.AccessToken)
			if c["aud"] != resource || c["sub"] != "alice" {
				t.Errorf("claims %v", c)
			}
			if mode == "metadata document" && c["client_id"] != m.srv.URL+"/go-client.json" {
				t.Errorf("client_id %v", c["client_id"])
			}
		})
	}
}
