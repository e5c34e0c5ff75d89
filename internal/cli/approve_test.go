package cli_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// upstreamServer is a real MCP server over Streamable HTTP with one tool
// whose description the test can change (a "rug pull").
func upstreamServer(t *testing.T, desc *string) string {
	t.Helper()
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server {
		s := mcp.NewServer(&mcp.Implementation{Name: "up", Version: "1"}, nil)
		mcp.AddTool(s, &mcp.Tool{Name: "lookup", Description: *desc},
			func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
				return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "ok"}}}, nil, nil
			})
		return s
	}, &mcp.StreamableHTTPOptions{Stateless: true})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL + "/mcp"
}

func TestToolApprove(t *testing.T) {
	desc := "Looks up a customer"
	url := upstreamServer(t, &desc)
	d := []string{"--data", t.TempDir()}
	c := func(args ...string) result { return must(t, run(t, nil, "", append(args, d...)...)) }
	c("upstream", "add", "crm", "--url", url)
	// The upstream offers "lookup" on its own: it is imported as pending.
	r := c("tool", "approve", "lookup")
	if !strings.Contains(r.stdout, "approved") {
		t.Fatalf("approve: %s", r.stdout)
	}
	if l := c("tool", "list").stdout; !strings.Contains(l, "lookup") || strings.Contains(l, "pending") {
		t.Errorf("after approve:\n%s", l)
	}
	// Refusals.
	c("tool", "add", "local", "--builtin", "sales_report")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"tool", "approve", "local"}, "not an upstream tool"},
	} {
		r := run(t, nil, "", append(tc.args, d...)...)
		if r.code != 1 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: exit %d %q", tc.args, r.code, r.stderr)
		}
	}
	// An unknown tool: the upstreams are asked, and none offers it.
	if r := run(t, nil, "", append([]string{"tool", "approve", "ghost", "--wait", "1s"}, d...)...); r.code != 1 || !strings.Contains(r.stderr, "not found") {
		t.Errorf("approve ghost: exit %d %q", r.code, r.stderr)
	}
	if a := c("audit", "export", "--type", "admin.change").stdout; !strings.Contains(a, "approve_upstream_tool") {
		t.Errorf("approval not audited:\n%s", a)
	}
}
