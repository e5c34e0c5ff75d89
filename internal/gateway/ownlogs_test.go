package gateway_test

//lint:file-ignore SA1019 logging is deprecated from protocol revision 2026-07-28 on; the revisions before it have it, and the gateway relays it.

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/store"
)

// TestGatewaysOwnListingLogsReachNoCaller: what a Streamable HTTP upstream
// logs while answering the gateway's own requests (its tools/list, which
// names every tool it has, whoever may call them) is the gateway's, not a
// caller's: it does not reach the one caller whose request happens to be
// running on the upstream's shared session at the time.
func TestGatewaysOwnListingLogsReachNoCaller(t *testing.T) {
	up := mcp.NewServer(&mcp.Implementation{Name: "lister", Version: "1"}, nil)
	addEcho(up, "Echoes its text")
	addNoop(up, "hr_secret", "HR only")
	reading, release := make(chan struct{}), make(chan struct{})
	up.AddResource(&mcp.Resource{URI: "file:///slow.txt", Name: "slow"}, func(ctx context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		close(reading)
		<-release
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, Text: "slow"}}}, nil
	})
	kept := &collected{}
	var chatty atomic.Bool
	up.AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			if method == "tools/list" && chatty.Load() {
				req.GetSession().(*mcp.ServerSession).Log(ctx, &mcp.LoggingMessageParams{Level: "info", Logger: "lister", Data: "listing echo, hr_secret, new_tool"})
			}
			return next(ctx, method, req)
		}
	})
	e := newEnv(t, envOptions{
		tools: []store.Tool{
			{Name: "echo", Upstream: "up", Roles: []string{"sales-manager"}},
			{Name: "hr_secret", Upstream: "up", Roles: []string{"hr"}},
		},
		upstreams: []store.Upstream{{Name: "up", URL: serveMCP(t, up)}},
		// The gateway logs (at debug) what an upstream logged that it
		// relays to no one.
		logger: slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) { kept.add(string(p)); return len(p), nil }),
			&slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	ctx := context.Background()
	logs := &collected{}
	alice := e.connectToken(e.token("alice", "acme-assistant"), "2025-11-25", &mcp.ClientOptions{
		LoggingMessageHandler: func(_ context.Context, r *mcp.LoggingMessageRequest) { logs.add(fmt.Sprint(r.Params.Data)) },
	})
	if err := alice.SetLoggingLevel(ctx, &mcp.SetLoggingLevelParams{Level: "debug"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "echo and the slow resource listed", func() bool {
		rl, err := alice.ListResources(ctx, nil)
		return slices.Contains(toolNames(t, alice), "echo") && err == nil && len(rl.Resources) == 1
	})

	// alice's read runs on the gateway's session with the upstream...
	read := make(chan error, 1)
	go func() {
		_, err := alice.ReadResource(ctx, &mcp.ReadResourceParams{URI: "file:///slow.txt"})
		read <- err
	}()
	select {
	case <-reading:
	case err := <-read:
		t.Fatalf("the read ended before the upstream had it: %v", err)
	}
	// ...while the upstream says its tools changed, and logs as the
	// gateway lists them again.
	chatty.Store(true)
	addNoop(up, "new_tool", "New")
	// What the upstream logged during the listing is either relayed to
	// alice or kept in the gateway's log: wait for one or the other.
	listing := "listing echo, hr_secret, new_tool"
	waitFor(t, "the listing's log message relayed or kept", func() bool {
		return slices.Contains(logs.all(), listing) || slices.ContainsFunc(kept.all(), func(l string) bool {
			return strings.Contains(l, "upstream log") && strings.Contains(l, "listing echo")
		})
	})
	close(release)
	if err := <-read; err != nil {
		t.Fatal(err)
	}
	if got := logs.all(); slices.Contains(got, listing) {
		t.Errorf("alice got the log message of the gateway's listing: %q", got)
	}
}
