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

	"github.com/gatehouse/gatehouse/internal/gateway"
)

// TestProgressTokenOfTheGateways: the upstream sees a progress token of
// the gateway's, a new one for each call, never the caller's (two calls
// on one upstream session here carry the same one), and each caller
// still gets its own progress, under its own token.
func TestProgressTokenOfTheGateways(t *testing.T) {
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
	if slices.Contains(answers, "same") || answers[0] == answers[1] || answers[0] == "" {
		t.Errorf("the upstream saw the tokens %q, want two of the gateway's", answers)
	}
	for _, c := range []client{a, b} {
		waitFor(t, "progress", func() bool { return len(c.progress.all()) == 1 })
		if got := c.progress.all(); got[0] != "same" {
			t.Errorf("a caller got progress under %q, not its own token", got)
		}
	}
}

// TestLateProgressReachesNoOne: an upstream that goes on reporting
// progress for a call its caller gave up cannot reach another person
// whose call, on the same upstream session, carries the same token
// (clients count their tokens from 0, so tokens collide all the time).
func TestLateProgressReachesNoOne(t *testing.T) {
	defer gateway.SetMaxLanes(0)() // every call on the gateway's own upstream session
	late, carolIn := make(chan struct{}), make(chan struct{})
	up := mcp.NewServer(&mcp.Implementation{Name: "slow", Version: "1"}, nil)
	mcp.AddTool(up, &mcp.Tool{Name: "payroll", Description: "Reads payroll, slowly"},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			pt := req.Params.GetProgressToken()
			req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: pt, Progress: 1, Message: "started"})
			<-late // still working after its caller left
			req.Session.NotifyProgress(context.Background(), &mcp.ProgressNotificationParams{ProgressToken: pt, Progress: 2, Message: "alice's salary: 123456"})
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "done"}}}, nil, nil
		})
	mcp.AddTool(up, &mcp.Tool{Name: "quick", Description: "Answers after a while"},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			close(carolIn)
			time.Sleep(time.Second) // time for the late progress to arrive
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "quick"}}}, nil, nil
		})
	e := newEnv(t, serveUpstream(t, up, "payroll", "quick"))
	open := func(who string, got *collected) *mcp.ClientSession {
		return e.connectToken(e.token(who, "acme-assistant"), "2025-11-25", &mcp.ClientOptions{
			ProgressNotificationHandler: func(_ context.Context, r *mcp.ProgressNotificationClientRequest) {
				got.add(r.Params.Message)
			},
		})
	}
	var aliceGot, carolGot collected
	alice, carol := open("alice", &aliceGot), open("carol", &carolGot)
	waitFor(t, "payroll listed", func() bool { return slices.Contains(toolNames(t, alice), "payroll") })

	ctx, cancel := context.WithCancel(context.Background())
	left := make(chan struct{})
	go func() {
		defer close(left)
		p := &mcp.CallToolParams{Name: "payroll", Arguments: map[string]any{}}
		p.SetProgressToken(7)
		alice.CallTool(ctx, p)
	}()
	waitFor(t, "alice's first progress", func() bool { return len(aliceGot.all()) == 1 })
	cancel()
	<-left
	go func() {
		<-carolIn
		close(late)
	}()
	p := &mcp.CallToolParams{Name: "quick", Arguments: map[string]any{}}
	p.SetProgressToken(7)
	if _, err := carol.CallTool(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	if got := carolGot.all(); len(got) > 0 {
		t.Errorf("carol got progress of alice's abandoned call: %q", got)
	}
}
