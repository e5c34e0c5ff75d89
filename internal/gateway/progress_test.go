package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestProgressTokenPassedOn: the upstream sees the caller's own progress
// token, as a direct call would show it (a tool may answer with it);
// when two calls on one upstream session carry the same token, the
// second gets one of the gateway's, and each caller still gets its own
// progress, under its own token.
func TestProgressTokenPassedOn(t *testing.T) {
	var mu sync.Mutex
	arrived := 0
	bothIn := make(chan struct{})
	up := mcp.NewServer(&mcp.Implementation{Name: "tokens", Version: "1"}, nil)
	mcp.AddTool(up, &mcp.Tool{Name: "token", Description: "Answers with its progress token"},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			pt := req.Params.GetProgressToken()
			mu.Lock()
			if arrived++; arrived == 2 {
				close(bothIn)
			}
			mu.Unlock()
			select {
			case <-bothIn:
			case <-time.After(20 * time.Second):
				return nil, nil, errors.New("the calls did not run at once")
			}
			req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: pt, Progress: 1, Message: fmt.Sprint(pt)})
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprint(pt)}}}, nil, nil
		})
	e := newEnv(t, serveUpstream(t, up, "token"))
	// Two sessions of one caller: one upstream session (its lane).
	type client struct {
		cs       *mcp.ClientSession
		progress *collected
	}
	open := func() client {
		c := client{progress: &collected{}}
		cl := mcp.NewClient(&mcp.Implementation{Name: "test-agent", Version: "1"}, &mcp.ClientOptions{
			ProgressNotificationHandler: func(_ context.Context, r *mcp.ProgressNotificationClientRequest) {
				c.progress.add(fmt.Sprint(r.Params.ProgressToken))
			},
		})
		hc := &http.Client{Transport: bearer{token: e.token("alice", "acme-assistant")}}
		cs, err := cl.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: e.resource, HTTPClient: hc},
			&mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cs.Close() })
		c.cs = cs
		return c
	}
	a, b := open(), open()
	waitFor(t, "token listed", func() bool { return slices.Contains(toolNames(t, a.cs), "token") })
	answers := make([]string, 2)
	var wg sync.WaitGroup
	for i, c := range []client{a, b} {
		wg.Go(func() {
			params := &mcp.CallToolParams{Name: "token", Arguments: map[string]any{}}
			params.SetProgressToken("same")
			r, err := c.cs.CallTool(context.Background(), params)
			if err != nil {
				t.Error(err)
				return
			}
			answers[i] = text(r)
		})
	}
	wg.Wait()
	same := 0
	for _, got := range answers {
		if got == "same" {
			same++
		}
	}
	if same != 1 || answers[0] == answers[1] {
		t.Errorf("the upstream saw the tokens %q, want the caller's once and one of the gateway's", answers)
	}
	for _, c := range []client{a, b} {
		waitFor(t, "progress", func() bool { return len(c.progress.all()) == 1 })
		if got := c.progress.all(); got[0] != "same" {
			t.Errorf("a caller got progress under %q, not its own token", got)
		}
	}
}
