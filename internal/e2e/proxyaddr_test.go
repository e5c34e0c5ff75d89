package e2e_test

import (
	"net/http"
	"net/netip"
	"net/url"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/e2e"
	"github.com/gatehouse/gatehouse/internal/server"
)

// forwardedTransport is a trusted reverse proxy's hop: it adds the client's
// address in X-Forwarded-For, and a bearer token.
type forwardedTransport struct{ token, client string }

func (f forwardedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+f.token)
	r.Header.Set("X-Forwarded-For", f.client)
	return http.DefaultTransport.RoundTrip(r)
}

// TestAuditAddressBehindATrustedProxy: behind a trusted reverse proxy
// (--trusted-proxy), the records of a listing and a tool call at /mcp and of a read of
// the trail through the admin API name the client's address from
// X-Forwarded-For, as sign-ins' records do, not the proxy's. Before, both
// named the proxy's socket address, so the trail could not say who called
// a tool or read the trail.
func TestAuditAddressBehindATrustedProxy(t *testing.T) {
	g := e2e.Start(t, adminTenant, &e2e.Options{Tweak: func(o *server.Options) {
		o.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	}})
	ctx := t.Context()

	// A tool call through the proxy.
	client := mcp.NewClient(&mcp.Implementation{Name: "e2e-agent", Version: "1"}, nil)
	tr := &mcp.StreamableClientTransport{Endpoint: g.URL + "/mcp",
		HTTPClient: &http.Client{Transport: forwardedTransport{token: mcpToken(t, g, "alice", "alice-e2e-password"), client: "203.0.113.7"}}}
	cs, err := client.Connect(ctx, tr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	if _, err := cs.ListTools(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "sales_report", Arguments: map[string]any{}}); err != nil {
		t.Fatal(err)
	}

	// A read of the trail through the proxy.
	root := adminToken(t, g, "root", "root-e2e-password")
	req, _ := http.NewRequestWithContext(ctx, "GET", g.URL+"/admin/api/audit?"+url.Values{"type": {audit.LoginSucceeded}}.Encode(), nil)
	resp, err := (&http.Client{Transport: forwardedTransport{token: root, client: "203.0.113.9"}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("admin read: %d", resp.StatusCode)
	}

	for typ, want := range map[string]string{audit.ToolDecided: "203.0.113.7", audit.ToolsListed: "203.0.113.7", audit.AuditRead: "203.0.113.9"} {
		_, page, body := adminGet(t, g, root, "type="+typ+"&limit=1000")
		found := false
		for _, e := range page.Entries {
			if e.Event.RemoteAddr == want {
				found = true
			}
		}
		if !found {
			t.Errorf("no %s record names the client %s:\n%.600s", typ, want, body)
		}
	}
}
