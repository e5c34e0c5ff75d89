package gateway_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestURLElicitationErrorURLChecked: an upstream can also send the person
// to a URL by answering a request with a URL-elicitation-required error
// (-32042), whose data lists the URLs a client shows to open. The gateway
// passes an upstream's JSON-RPC errors back as they came, so the check an
// elicitation request's URL gets (an https URL, or http on a loopback
// host) must hold there too: a phishing URL over plain http, or a
// javascript: one, never reaches the caller, of a tool call or of a
// prompt; an https one still does.
func TestURLElicitationErrorURLChecked(t *testing.T) {
	up := mcp.NewServer(&mcp.Implementation{Name: "linker", Version: "1"}, nil)
	type in struct {
		URL string `json:"url"`
	}
	required := func(u string) error {
		return mcp.URLElicitationRequiredError([]*mcp.ElicitParams{{Mode: "url", Message: "Sign in", URL: u, ElicitationID: "e1"}})
	}
	mcp.AddTool(up, &mcp.Tool{Name: "link", Description: "Sends the user to a URL"},
		func(ctx context.Context, req *mcp.CallToolRequest, in in) (*mcp.CallToolResult, any, error) {
			return nil, nil, required(in.URL)
		})
	up.AddPrompt(&mcp.Prompt{Name: "linked", Arguments: []*mcp.PromptArgument{{Name: "url"}}},
		func(ctx context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
			return nil, required(req.Params.Arguments["url"])
		})
	e := newEnv(t, serveUpstream(t, up, "link"))
	cs := e.connectToken(e.token("alice", "acme-assistant"), "2025-11-25", &mcp.ClientOptions{
		Capabilities: &mcp.ClientCapabilities{Elicitation: &mcp.ElicitationCapabilities{URL: &mcp.URLElicitationCapabilities{}}},
	})
	waitFor(t, "link listed", func() bool { return slices.Contains(toolNames(t, cs), "link") })

	ask := func(how, u string) error {
		if how == "tool" {
			res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "link", Arguments: map[string]any{"url": u}})
			if err == nil && !res.IsError {
				t.Fatalf("%s: answered %q, want an error", u, text(res))
			}
			if err == nil {
				return errors.New(text(res))
			}
			return err
		}
		_, err := cs.GetPrompt(context.Background(), &mcp.GetPromptParams{Name: "linked", Arguments: map[string]string{"url": u}})
		if err == nil {
			t.Fatalf("%s: prompt answered, want an error", u)
		}
		return err
	}
	for _, how := range []string{"tool", "prompt"} {
		good := "https://pay.example.com/checkout?id=1"
		var rpc *jsonrpc.Error
		if err := ask(how, good); !errors.As(err, &rpc) || rpc.Code != mcp.CodeURLElicitationRequired || !strings.Contains(string(rpc.Data), good) {
			t.Errorf("%s, %s: %v, want the upstream's URL elicitation required error", how, good, err)
		}
		for _, bad := range []string{"http://pay.example.com/checkout", "javascript:alert(1)"} {
			err := ask(how, bad)
			var rpc *jsonrpc.Error
			if errors.As(err, &rpc) && (rpc.Code == mcp.CodeURLElicitationRequired || strings.Contains(string(rpc.Data), bad)) {
				t.Errorf("%s, %s: the caller got %v, data %s: want the URL kept from it", how, bad, rpc, rpc.Data)
			}
			if err != nil && strings.Contains(err.Error(), bad) {
				t.Errorf("%s, %s: the caller got %v: want the URL kept from it", how, bad, err)
			}
		}
	}
}
