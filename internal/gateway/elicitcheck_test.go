package gateway_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestURLElicitationURLChecked: a "url" elicitation sends the person to
// the upstream's URL, so a malicious upstream could send them to a
// phishing page over plain http, to a javascript: or data: URL, or to a
// file. Only an https URL, or http on a loopback host (a local
// callback), reaches the caller; any other is refused to the upstream,
// and the person is never asked.
func TestURLElicitationURLChecked(t *testing.T) {
	up := mcp.NewServer(&mcp.Implementation{Name: "linker", Version: "1"}, nil)
	type in struct {
		URL string `json:"url"`
	}
	mcp.AddTool(up, &mcp.Tool{Name: "link", Description: "Sends the user to a URL"},
		func(ctx context.Context, req *mcp.CallToolRequest, in in) (*mcp.CallToolResult, any, error) {
			// The gateway declares form elicitation only, which the SDK
			// server holds its tools to: sent as a form, turned into a
			// "url" elicitation on the wire (toURL), as a server in
			// another language may send it.
			res, err := req.Session.Elicit(ctx, &mcp.ElicitParams{Message: in.URL})
			if err != nil {
				return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "refused: " + err.Error()}}}, nil, nil
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: res.Action}}}, nil, nil
		})
	mode := "url"
	toURL := func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			if r, ok := req.(*mcp.ServerRequest[mcp.Params]); ok && method == "elicitation/create" {
				form := r.Params.(*mcp.ElicitParams)
				req = &mcp.ServerRequest[mcp.Params]{Session: r.Session,
					Params: &mcp.ElicitParams{Mode: mode, Message: "Sign in", URL: form.Message, ElicitationID: "e1"}}
			}
			return next(ctx, method, req)
		}
	}
	up.AddSendingMiddleware(toURL)
	e := newEnv(t, serveUpstream(t, up, "link"))
	asked := &collected{}
	cs := e.connectToken(e.token("alice", "acme-assistant"), "2025-11-25", &mcp.ClientOptions{
		Capabilities: &mcp.ClientCapabilities{Elicitation: &mcp.ElicitationCapabilities{
			Form: &mcp.FormElicitationCapabilities{}, URL: &mcp.URLElicitationCapabilities{}}},
		ElicitationHandler: func(_ context.Context, r *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			asked.add(r.Params.URL)
			return &mcp.ElicitResult{Action: "accept"}, nil
		},
	})
	waitFor(t, "link listed", func() bool { return slices.Contains(toolNames(t, cs), "link") })

	for _, u := range []string{"https://pay.example.com/checkout?id=1", "http://127.0.0.1:8123/callback", "http://localhost/cb", "http://[::1]:9/cb"} {
		if got := text(call(t, cs, "link", map[string]any{"url": u})); got != "accept" {
			t.Errorf("%s: %q, want it to reach the caller", u, got)
		}
	}
	for _, u := range []string{"http://pay.example.com/checkout", "javascript:alert(1)", "data:text/html,<script>x</script>",
		"file:///home/alice/.ssh/id_ed25519", "https:///nohost", "https://user:pw@pay.example.com/", "ftp://pay.example.com/",
		"http://127.0.0.1.attacker.example/", "not a url", ""} {
		if got := text(call(t, cs, "link", map[string]any{"url": u})); !strings.HasPrefix(got, "refused: ") {
			t.Errorf("%q: %q, want the upstream refused", u, got)
		}
	}
	if got := asked.all(); len(got) != 4 {
		t.Errorf("the caller was asked to open %q, want only the 4 allowed URLs", got)
	}
	// A URL is checked whatever mode it comes with: a client that goes
	// by the url field rather than the mode would open it all the same.
	for _, mode = range []string{"URL", "form", "Url"} {
		if got := text(call(t, cs, "link", map[string]any{"url": "javascript:alert(1)"})); !strings.HasPrefix(got, "refused: ") {
			t.Errorf("mode %q: %q, want the upstream refused", mode, got)
		}
	}
}
