package identity

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse/gatehouse/internal/audit"
)

// plainHost is a name for the upstream over plain HTTP on a network that
// is not this machine's loopback. routeTo carries what is sent to it to
// the fake upstream, so that no test traffic leaves the machine.
const plainHost = "idp.test"

// routeTo is a transport that sends requests for plainHost to srv and
// records the paths they asked for.
type routeTo struct {
	srv  *httptest.Server
	mu   sync.Mutex
	seen []string
}

func (rt *routeTo) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Hostname() == plainHost {
		rt.mu.Lock()
		rt.seen = append(rt.seen, r.URL.Path)
		rt.mu.Unlock()
		r = r.Clone(r.Context())
		u, _ := url.Parse(rt.srv.URL)
		r.URL.Host, r.Host = u.Host, u.Host
	}
	return http.DefaultTransport.RoundTrip(r)
}

func (rt *routeTo) asked() []string {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return append([]string(nil), rt.seen...)
}

// TestFederatedUpstreamEndpointsNeedTLS: the tenant file holds the
// issuer to https (http only to a loopback address), but the endpoints
// came from the upstream's discovery document, unchecked. An upstream
// that names a plain-HTTP token endpoint (a proxy in front of it that
// does not say it terminates TLS is the usual cause) had Gatehouse send
// the code, its verifier and the connection's client secret in clear;
// a plain-HTTP jwks_uri let whoever is on the path hand over keys of
// their own and sign an ID token for anyone; a plain-HTTP authorization
// endpoint had the person type their password in clear. Such an
// upstream is refused as unavailable before anything is sent, as the
// issuer would be.
func TestFederatedUpstreamEndpointsNeedTLS(t *testing.T) {
	for _, field := range []string{"token_endpoint", "jwks_uri", "userinfo_endpoint", "authorization_endpoint"} {
		t.Run(field, func(t *testing.T) {
			var rt *routeTo
			h, up := fedHarness(t, func(p *Provider) {
				rt = &routeTo{}
				p.Connections[0].HTTPClient = &http.Client{Transport: rt, CheckRedirect: plainRedirectsOnly}
			})
			rt.srv = up.srv
			path := map[string]string{"token_endpoint": "/token", "jwks_uri": "/jwks", "userinfo_endpoint": "/me",
				"authorization_endpoint": "/auth"}[field]
			// userinfo is asked only for claims the ID token lacks.
			up.set(func(u *fakeUpstream) {
				u.meta = map[string]any{field: "http://" + plainHost + path}
				delete(u.claims, "groups")
			})
			b := h.browser()
			resp, err := b.Get(h.url("/login?authz=" + url.QueryEscape(authParams().Encode())))
			if err != nil {
				t.Fatal(err)
			}
			resp = pressOkta(t, h, b, body(t, resp))
			body(t, resp)
			if resp.StatusCode != http.StatusBadGateway {
				t.Fatalf("a sign-in through an upstream with a plain-HTTP %s started: %d %q", field,
					resp.StatusCode, resp.Header.Get("Location"))
			}
			if got := rt.asked(); len(got) > 0 {
				t.Errorf("requests sent in clear: %q", got)
			}
		})
	}
}

// TestFederatedUpstreamRedirectKeepsTLS: the upstream's plain GETs
// (discovery, keys) follow redirects, but not from TLS to plain HTTP on
// the network, where keys of someone else's would be taken as the
// upstream's.
func TestFederatedUpstreamRedirectKeepsTLS(t *testing.T) {
	var rt *routeTo
	h, up := fedHarness(t, func(p *Provider) {
		rt = &routeTo{}
		p.Connections[0].HTTPClient = &http.Client{Transport: rt, CheckRedirect: plainRedirectsOnly}
	})
	rt.srv = up.srv
	moved := httptest.NewServer(http.RedirectHandler("http://"+plainHost+"/jwks", http.StatusFound))
	t.Cleanup(moved.Close)
	up.set(func(u *fakeUpstream) { u.meta = map[string]any{"jwks_uri": moved.URL + "/jwks"} })
	resp := fedSignIn(t, h, h.browser(), authParams())
	body(t, resp)
	if resp.StatusCode != http.StatusBadGateway || strings.HasPrefix(resp.Header.Get("Location"), h.url("/authorize")) {
		t.Fatalf("keys fetched over plain HTTP were taken: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if ev, ok := h.audit.last(audit.LoginFailed); !ok || ev.Detail["reason"] != "upstream_token" {
		t.Errorf("event %+v", ev)
	}
	if got := rt.asked(); len(got) > 0 {
		t.Errorf("requests sent in clear: %q", got)
	}
}
