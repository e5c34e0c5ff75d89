package gateway_test

//lint:file-ignore SA1019 logging is deprecated from protocol revision 2026-07-28 on; the revisions before it have it, and the gateway relays it.

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/store"
)

// What the lister upstream logs, and asks, while it answers a tools/list.
const (
	listerLog      = "listing echo, hr_secret, relist, new_tool"
	listerQuestion = "Which of echo, hr_secret, relist, new_tool?"
)

// runListerUpstream serves, on stdin/stdout, an upstream with a tool only
// HR may call (hr_secret) and a tool, relist, that adds one more and runs
// until the upstream has answered the tools/list the gateway sends when
// told its tools changed. While it answers that listing, the upstream logs
// the names of all its tools and asks its client a question naming them.
func runListerUpstream() {
	s := mcp.NewServer(&mcp.Implementation{Name: "lister", Version: "1"}, nil)
	addEcho(s, "Echoes its text")
	addNoop(s, "hr_secret", "HR only")
	var chatty atomic.Bool
	listed := make(chan struct{})
	var once sync.Once
	s.AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			if method != "tools/list" || !chatty.Load() {
				return next(ctx, method, req)
			}
			ss := req.GetSession().(*mcp.ServerSession)
			ss.Log(ctx, &mcp.LoggingMessageParams{Level: "info", Logger: "lister", Data: listerLog})
			// Refused or answered, it does not matter here: who was asked.
			ss.Elicit(ctx, &mcp.ElicitParams{Message: listerQuestion, RequestedSchema: json.RawMessage(`{"type":"object","properties":{"pick":{"type":"string"}}}`)})
			res, err := next(ctx, method, req)
			once.Do(func() { close(listed) })
			return res, err
		}
	})
	mcp.AddTool(s, &mcp.Tool{Name: "relist", Description: "Adds a tool, runs until the tools are listed again"},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			chatty.Store(true)
			addNoop(s, "new_tool", "New")
			select {
			case <-listed:
			case <-ctx.Done():
				return nil, nil, ctx.Err()
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "listed"}}}, nil, nil
		})
	if err := s.Run(context.Background(), &mcp.StdioTransport{}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// TestGatewaysOwnListingOnStdioReachesNoCaller: a stdio upstream, one
// process and one session for every caller, has no stream of its own per
// request: what it logs while answering the gateway's own tools/list (the
// names of all its tools, whoever may call them), and what it asks then,
// is the gateway's, not that of the one caller whose call happens to be
// running on it. It goes to the gateway's log, and the question is refused.
func TestGatewaysOwnListingOnStdioReachesNoCaller(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	kept := &collected{}
	e := newEnv(t, envOptions{
		tools: []store.Tool{
			{Name: "echo", Upstream: "up", Roles: []string{"sales-manager"}},
			{Name: "relist", Upstream: "up", Roles: []string{"sales-manager"}},
			{Name: "hr_secret", Upstream: "up", Roles: []string{"hr"}},
		},
		upstreams: []store.Upstream{{Name: "up", Command: []string{exe, "-gatehouse-test-lister-upstream"}}},
		// The gateway logs (at debug) what an upstream logged that it
		// relays to no one.
		logger: slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) { kept.add(string(p)); return len(p), nil }),
			&slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	ctx := context.Background()
	logs, asked := &collected{}, &collected{}
	alice := e.connectToken(e.token("alice", "acme-assistant"), "2025-11-25", &mcp.ClientOptions{
		LoggingMessageHandler: func(_ context.Context, r *mcp.LoggingMessageRequest) { logs.add(fmt.Sprint(r.Params.Data)) },
		ElicitationHandler: func(_ context.Context, r *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			asked.add(r.Params.Message)
			return &mcp.ElicitResult{Action: "decline"}, nil
		},
	})
	if err := alice.SetLoggingLevel(ctx, &mcp.SetLoggingLevelParams{Level: "debug"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "relist listed", func() bool { return slices.Contains(toolNames(t, alice), "relist") })

	// alice's call is the one running on the upstream while the gateway
	// lists its tools again.
	if r := call(t, alice, "relist", nil); r.IsError || text(r) != "listed" {
		t.Fatalf("relist = %q", text(r))
	}
	// The question was asked, or refused, before the listing was answered,
	// and so before alice's call was; the log message is relayed to alice
	// or kept in the gateway's log: wait for one or the other.
	waitFor(t, "the listing's log message relayed or kept", func() bool {
		return slices.Contains(logs.all(), listerLog) || slices.ContainsFunc(kept.all(), func(l string) bool {
			return strings.Contains(l, "upstream log") && strings.Contains(l, "listing echo")
		})
	})
	if got := logs.all(); slices.Contains(got, listerLog) {
		t.Errorf("alice got the log message of the gateway's listing: %q", got)
	}
	if got := asked.all(); len(got) > 0 {
		t.Errorf("alice was asked the upstream's question during the gateway's listing: %q", got)
	}
}
