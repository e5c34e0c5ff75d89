package gateway_test

//lint:file-ignore SA1019 logging and sampling are deprecated from protocol revision 2026-07-28 on; the revisions before it have them, and the gateway relays them.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/gateway"
	"github.com/gatehouse/gatehouse/internal/identity/accesstoken"
	"github.com/gatehouse/gatehouse/internal/store"
)

// serveUpstream serves s over Streamable HTTP and returns a tenant of one
// upstream "up" whose tools (names) sales managers may call.
func serveUpstream(t *testing.T, s *mcp.Server, names ...string) envOptions {
	us := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil))
	t.Cleanup(us.Close) // after the gateway's, which closes its sessions
	var ts []store.Tool
	for _, n := range names {
		ts = append(ts, store.Tool{Name: n, Upstream: "up", Roles: []string{"sales-manager"}})
	}
	return envOptions{tools: ts, upstreams: []store.Upstream{{Name: "up", URL: us.URL}}}
}

// strings of what a handler got, safe for concurrent use.
type collected struct {
	mu  sync.Mutex
	got []string
}

func (c *collected) add(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, s)
}

func (c *collected) all() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.got)
}

// TestUpstreamLogRelayedToItsCaller: what an upstream logs during a call
// reaches the caller of that call, filtered by the level the caller set,
// and no other session.
func TestUpstreamLogRelayedToItsCaller(t *testing.T) {
	up := mcp.NewServer(&mcp.Implementation{Name: "chatty", Version: "1"}, nil)
	mcp.AddTool(up, &mcp.Tool{Name: "chatty", Description: "Logs at every level"},
		func(ctx context.Context, req *mcp.CallToolRequest, in whoIn) (*mcp.CallToolResult, any, error) {
			for _, l := range []mcp.LoggingLevel{"debug", "info", "warning", "error"} {
				req.Session.Log(ctx, &mcp.LoggingMessageParams{Level: l, Logger: "chatty", Data: string(l) + " for " + in.Who})
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "done"}}}, nil, nil
		})
	e := newEnv(t, serveUpstream(t, up, "chatty"))
	ctx := context.Background()
	logsOf := func(sub string, level mcp.LoggingLevel) (*mcp.ClientSession, *collected) {
		c := &collected{}
		cs := e.connectToken(e.token(sub, "acme-assistant"), "2025-11-25", &mcp.ClientOptions{
			LoggingMessageHandler: func(_ context.Context, r *mcp.LoggingMessageRequest) {
				c.add(string(r.Params.Level) + "/" + r.Params.Logger + "/" + r.Params.Data.(string))
			},
		})
		if err := cs.SetLoggingLevel(ctx, &mcp.SetLoggingLevelParams{Level: level}); err != nil {
			t.Fatal(err)
		}
		return cs, c
	}
	alice, aliceLogs := logsOf("alice", "warning")
	_, carolLogs := logsOf("carol", "debug") // may call chatty, but calls nothing
	waitFor(t, "chatty listed", func() bool { return slices.Contains(toolNames(t, alice), "chatty") })

	if r := call(t, alice, "chatty", map[string]any{"who": "alice"}); r.IsError || text(r) != "done" {
		t.Fatalf("chatty = %q", text(r))
	}
	want := []string{"warning/chatty/warning for alice", "error/chatty/error for alice"}
	waitFor(t, "alice's log messages", func() bool { return len(aliceLogs.all()) >= len(want) })
	time.Sleep(200 * time.Millisecond) // a wrong one, given time to arrive
	if got := aliceLogs.all(); !slices.Equal(got, want) {
		t.Errorf("alice got %q, want %q (her level is warning)", got, want)
	}
	if got := carolLogs.all(); len(got) != 0 {
		t.Errorf("carol, who called nothing, got %q", got)
	}

	// The caller's level is hers: at debug she gets every message.
	if err := alice.SetLoggingLevel(ctx, &mcp.SetLoggingLevelParams{Level: "debug"}); err != nil {
		t.Fatal(err)
	}
	call(t, alice, "chatty", map[string]any{"who": "alice"})
	waitFor(t, "alice's log messages at debug", func() bool { return len(aliceLogs.all()) >= len(want)+4 })
	if got := aliceLogs.all()[len(want):]; !slices.Equal(got, []string{"debug/chatty/debug for alice", "info/chatty/info for alice",
		"warning/chatty/warning for alice", "error/chatty/error for alice"}) {
		t.Errorf("alice at debug got %q", got)
	}
	if got := carolLogs.all(); len(got) != 0 {
		t.Errorf("carol got %q", got)
	}
}

// TestSamplingRelayed: an upstream's sampling/createMessage during a call
// reaches the caller of that call as the upstream sent it, and the
// caller's answer goes back to the upstream as given.
func TestSamplingRelayed(t *testing.T) {
	up := mcp.NewServer(&mcp.Implementation{Name: "sampler", Version: "1"}, nil)
	mcp.AddTool(up, &mcp.Tool{Name: "summarize", Description: "Asks the caller's model for a summary"},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			res, err := req.Session.CreateMessage(ctx, &mcp.CreateMessageParams{
				Messages:     []*mcp.SamplingMessage{{Role: "user", Content: &mcp.TextContent{Text: "Summarize: Q3 sales rose 4%"}}},
				MaxTokens:    50,
				SystemPrompt: "Be brief.",
			})
			if err != nil {
				return nil, nil, err
			}
			tc, _ := res.Content.(*mcp.TextContent)
			if tc == nil {
				return nil, nil, errors.New("no text in the answer")
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: tc.Text + " | " + res.Model + " | " + string(res.Role)}}}, nil, nil
		})
	e := newEnv(t, serveUpstream(t, up, "summarize"))
	var mu sync.Mutex
	var asked []*mcp.CreateMessageParams
	alice := e.connectToken(e.token("alice", "acme-assistant"), "2025-11-25", &mcp.ClientOptions{
		CreateMessageHandler: func(_ context.Context, r *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
			mu.Lock()
			asked = append(asked, r.Params)
			mu.Unlock()
			return &mcp.CreateMessageResult{Role: "assistant", Model: "test-model", Content: &mcp.TextContent{Text: "Sales up 4%."}}, nil
		},
	})
	waitFor(t, "summarize listed", func() bool { return slices.Contains(toolNames(t, alice), "summarize") })

	r := call(t, alice, "summarize", nil)
	if r.IsError || text(r) != "Sales up 4%. | test-model | assistant" {
		t.Fatalf("summarize = %q (error %v), want the caller's answer", text(r), r.IsError)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(asked) != 1 {
		t.Fatalf("the caller was asked %d times", len(asked))
	}
	p := asked[0]
	if tc, _ := p.Messages[0].Content.(*mcp.TextContent); len(p.Messages) != 1 || tc == nil || tc.Text != "Summarize: Q3 sales rose 4%" ||
		p.Messages[0].Role != "user" || p.MaxTokens != 50 || p.SystemPrompt != "Be brief." {
		t.Errorf("the caller was asked %+v", p)
	}
}

// TestResourceUpdatedRelayed: a subscription reaches the upstream, and the
// upstream's notifications/resources/updated reaches the session that
// subscribed while its caller may use the upstream; not a session that
// did not subscribe, not a caller refused the subscription, and not a
// subscriber who may no longer use the upstream.
func TestResourceUpdatedRelayed(t *testing.T) {
	subscribed := &collected{}
	up := mcp.NewServer(&mcp.Implementation{Name: "notes", Version: "1"}, &mcp.ServerOptions{
		SubscribeHandler:   func(_ context.Context, r *mcp.SubscribeRequest) error { subscribed.add(r.Params.URI); return nil },
		UnsubscribeHandler: func(context.Context, *mcp.UnsubscribeRequest) error { return nil },
	})
	addEcho(up, "Echoes its text")
	up.AddResource(&mcp.Resource{URI: "file:///notes.txt", Name: "notes"}, func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, Text: "notes"}}}, nil
	})
	e := newEnv(t, serveUpstream(t, up, "echo"))
	ctx := context.Background()
	watch := func(sub string, jti ...string) (*mcp.ClientSession, *collected) {
		c := &collected{}
		cs := e.connectToken(e.token(sub, "acme-assistant", func(c *accesstoken.Claims) {
			if len(jti) > 0 {
				c.JTI = jti[0]
			}
		}), "2025-11-25", &mcp.ClientOptions{
			ResourceUpdatedHandler: func(_ context.Context, r *mcp.ResourceUpdatedNotificationRequest) { c.add(r.Params.URI) },
		})
		return cs, c
	}
	alice, aliceGot := watch("alice")
	revoked, revokedGot := watch("alice", "jti-to-revoke") // another token of alice's
	carol, carolGot := watch("carol")                      // may, but does not subscribe
	dave, daveGot := watch("dave")                         // may not
	waitFor(t, "alice's resources", func() bool {
		rl, err := alice.ListResources(ctx, nil)
		return err == nil && len(rl.Resources) == 1
	})
	toolNames(t, carol)

	for _, cs := range []*mcp.ClientSession{alice, revoked} {
		if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: "file:///notes.txt"}); err != nil {
			t.Fatalf("alice's subscription: %v", err)
		}
	}
	if err := dave.Subscribe(ctx, &mcp.SubscribeParams{URI: "file:///notes.txt"}); err == nil {
		t.Error("dave subscribed to a resource of an upstream he may not use")
	}
	if got := slices.Compact(subscribed.all()); !slices.Equal(got, []string{"file:///notes.txt"}) {
		t.Errorf("the upstream got subscriptions %q", got)
	}

	if err := up.ResourceUpdated(ctx, &mcp.ResourceUpdatedNotificationParams{URI: "file:///notes.txt"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "alice's update", func() bool { return len(aliceGot.all()) == 1 && len(revokedGot.all()) == 1 })
	time.Sleep(200 * time.Millisecond)
	if got := aliceGot.all(); !slices.Equal(got, []string{"file:///notes.txt"}) {
		t.Errorf("alice got %q", got)
	}
	if got := carolGot.all(); len(got) != 0 {
		t.Errorf("carol, who did not subscribe, got %q", got)
	}
	if got := daveGot.all(); len(got) != 0 {
		t.Errorf("dave, who was refused, got %q", got)
	}

	// One of alice's tokens is revoked: its session hears no more; her
	// other one does.
	if err := e.st.Identity().Revoke(ctx, store.RevokedToken, "jti-to-revoke", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := up.ResourceUpdated(ctx, &mcp.ResourceUpdatedNotificationParams{URI: "file:///notes.txt"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "alice's second update", func() bool { return len(aliceGot.all()) == 2 })
	time.Sleep(200 * time.Millisecond)
	if got := revokedGot.all(); len(got) != 1 {
		t.Errorf("the session of a revoked token got %q", got)
	}

	// alice may no longer use the upstream: her subscription stays in the
	// SDK, but the upstream's updates no longer reach her.
	if err := e.st.Users().Update(ctx, "alice", func(u store.User) (store.User, error) { u.Roles = nil; return u, nil }); err != nil {
		t.Fatal(err)
	}
	if err := e.gw.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if err := up.ResourceUpdated(ctx, &mcp.ResourceUpdatedNotificationParams{URI: "file:///notes.txt"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if got := aliceGot.all(); len(got) != 2 {
		t.Errorf("alice, who may no longer use the upstream, got %q", got)
	}
}

// TestResourceUpdatedOnlyWhereAStreamIsOpen: a session that subscribed but
// has no standalone stream open (its client opened none) is not sent the
// update, which nothing could carry, and the gateway's log stays free of
// the SDK's warning of it; a session with its stream open gets it.
func TestResourceUpdatedOnlyWhereAStreamIsOpen(t *testing.T) {
	up := mcp.NewServer(&mcp.Implementation{Name: "notes", Version: "1"}, &mcp.ServerOptions{
		SubscribeHandler:   func(context.Context, *mcp.SubscribeRequest) error { return nil },
		UnsubscribeHandler: func(context.Context, *mcp.UnsubscribeRequest) error { return nil },
	})
	addEcho(up, "Echoes its text")
	up.AddResource(&mcp.Resource{URI: "file:///notes.txt", Name: "notes"}, func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, Text: "notes"}}}, nil
	})
	logs := &messages{}
	o := serveUpstream(t, up, "echo")
	o.logger = slog.New(logs)
	e := newEnv(t, o)
	ctx := context.Background()
	subscribe := func(sub string, noStream bool) *collected {
		got := &collected{}
		client := mcp.NewClient(&mcp.Implementation{Name: "test-agent", Version: "1"}, &mcp.ClientOptions{
			ResourceUpdatedHandler: func(_ context.Context, r *mcp.ResourceUpdatedNotificationRequest) { got.add(r.Params.URI) },
		})
		tr := &mcp.StreamableClientTransport{Endpoint: e.resource, DisableStandaloneSSE: noStream,
			HTTPClient: &http.Client{Transport: bearer{token: e.token(sub, "acme-assistant")}}}
		cs, err := client.Connect(ctx, tr, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cs.Close() })
		waitFor(t, sub+"'s resources", func() bool {
			rl, err := cs.ListResources(ctx, nil)
			return err == nil && len(rl.Resources) == 1
		})
		if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: "file:///notes.txt"}); err != nil {
			t.Fatalf("%s's subscription: %v", sub, err)
		}
		return got
	}
	withStream, without := subscribe("alice", false), subscribe("carol", true)
	// Alice's client opens its stream after connecting, in the background:
	// updates until one reaches her.
	waitFor(t, "an update on alice's stream", func() bool {
		if err := up.ResourceUpdated(ctx, &mcp.ResourceUpdatedNotificationParams{URI: "file:///notes.txt"}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
		return len(withStream.all()) > 0
	})
	time.Sleep(200 * time.Millisecond)
	if got := without.all(); len(got) != 0 {
		t.Errorf("carol, with no stream open, got %q", got)
	}
	for _, m := range logs.all() {
		if strings.HasPrefix(m, "calling ") && strings.Contains(m, "resources/updated") {
			t.Errorf("the gateway's log has the SDK's warning %q", m)
		}
	}
}

// TestUpstreamProtocolErrorPassedThrough: a JSON-RPC error an upstream
// answers a tools/call with (a protocol error, not an isError result)
// reaches the caller with its code and message unchanged, and the trail
// records it.
func TestUpstreamProtocolErrorPassedThrough(t *testing.T) {
	up := mcp.NewServer(&mcp.Implementation{Name: "broken", Version: "1"}, nil)
	mcp.AddTool(up, &mcp.Tool{Name: "broken", Description: "Answers with a protocol error"},
		func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
			return nil, nil, errors.New("not reached")
		})
	const code, message = -32050, "quota exhausted upstream"
	up.AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			if method == "tools/call" {
				return nil, &jsonrpc.Error{Code: code, Message: message}
			}
			return next(ctx, method, req)
		}
	})
	e := newEnv(t, serveUpstream(t, up, "broken"))
	alice := e.connect("alice", "acme-assistant", "2025-11-25")
	waitFor(t, "broken listed", func() bool { return slices.Contains(toolNames(t, alice), "broken") })

	res, err := alice.CallTool(context.Background(), &mcp.CallToolParams{Name: "broken", Arguments: map[string]any{}})
	var rpc *jsonrpc.Error
	if !errors.As(err, &rpc) || rpc.Code != code || rpc.Message != message {
		t.Fatalf("call = %v, %v; want the JSON-RPC error %d %q", res, err, code, message)
	}
	var results []audit.Event
	for _, ev := range e.mem.all() {
		if ev.Type == audit.ToolResult && ev.Tool == "broken" {
			results = append(results, ev)
		}
	}
	if len(results) != 1 || results[0].Status != "error" || results[0].Detail["error"] != message || results[0].Detail["code"] != int64(code) {
		t.Errorf("results audited: %+v", results)
	}
}

// TestConcurrentCallsThroughOneUpstreamSession: two people's sessions call
// the same upstream tool at once, with the same JSON-RPC IDs and the same
// progress tokens, through the gateway's sessions with the upstream. Each
// gets its own results and its own progress notifications only.
func TestConcurrentCallsThroughOneUpstreamSession(t *testing.T) {
	const perSession = 4
	const all = 2 * perSession
	var mu sync.Mutex
	arrived := 0
	allIn := make(chan struct{})
	upTokens := map[string]bool{}
	up := mcp.NewServer(&mcp.Implementation{Name: "worker", Version: "1"}, nil)
	type workIn struct {
		Who string `json:"who"`
		N   int    `json:"n"`
	}
	mcp.AddTool(up, &mcp.Tool{Name: "work", Description: "Reports progress, then answers"},
		func(ctx context.Context, req *mcp.CallToolRequest, in workIn) (*mcp.CallToolResult, any, error) {
			pt := req.Params.GetProgressToken()
			mu.Lock()
			upTokens[pt.(string)] = true
			if arrived++; arrived == all {
				close(allIn)
			}
			mu.Unlock()
			// Every call is running before any answers.
			select {
			case <-allIn:
			case <-time.After(20 * time.Second):
				return nil, nil, errors.New("the calls did not run at once")
			}
			for k := 1; k <= 3; k++ {
				req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: pt, Progress: float64(k), Total: 3,
					Message: fmt.Sprintf("%s/%d/step %d", in.Who, in.N, k)})
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprintf("result for %s/%d", in.Who, in.N)}}}, nil, nil
		})
	e := newEnv(t, serveUpstream(t, up, "work"))

	type person struct {
		name     string
		cs       *mcp.ClientSession
		progress *collected
		ids      *collected // JSON-RPC IDs of its tools/call requests
	}
	open := func(sub string) *person {
		p := &person{name: sub, progress: &collected{}, ids: &collected{}}
		client := mcp.NewClient(&mcp.Implementation{Name: "test-agent", Version: "1"}, &mcp.ClientOptions{
			ProgressNotificationHandler: func(_ context.Context, r *mcp.ProgressNotificationClientRequest) {
				p.progress.add(r.Params.ProgressToken.(string) + " " + r.Params.Message)
			},
		})
		hc := &http.Client{Transport: bearer{token: e.token(sub, "acme-assistant"), base: idRecorder{p.ids}}}
		cs, err := client.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: e.resource, HTTPClient: hc},
			&mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cs.Close() })
		p.cs = cs
		return p
	}
	waitFor(t, "work listed", func() bool {
		return slices.Contains(toolNames(t, e.connect("alice", "acme-assistant", "2025-11-25")), "work")
	})
	alice, carol := open("alice"), open("carol")
	for _, p := range []*person{alice, carol} {
		if !slices.Contains(toolNames(t, p.cs), "work") {
			t.Fatalf("%s does not list work", p.name)
		}
	}

	results := map[string][]string{}
	var rmu sync.Mutex
	var wg sync.WaitGroup
	for _, p := range []*person{alice, carol} {
		for n := 1; n <= perSession; n++ {
			wg.Go(func() {
				params := &mcp.CallToolParams{Name: "work", Arguments: map[string]any{"who": p.name, "n": n}}
				params.SetProgressToken(fmt.Sprintf("tok-%d", n))
				r, err := p.cs.CallTool(context.Background(), params)
				rmu.Lock()
				defer rmu.Unlock()
				if err != nil {
					results[p.name] = append(results[p.name], "error: "+err.Error())
					return
				}
				results[p.name] = append(results[p.name], text(r))
			})
		}
	}
	wg.Wait()

	// The same IDs on both sessions (each session numbers its own).
	aliceIDs, carolIDs := alice.ids.all(), carol.ids.all()
	slices.Sort(aliceIDs)
	slices.Sort(carolIDs)
	if len(aliceIDs) != perSession || !slices.Equal(aliceIDs, carolIDs) {
		t.Errorf("tools/call IDs: alice %v, carol %v; want the same %d", aliceIDs, carolIDs, perSession)
	}
	for _, p := range []*person{alice, carol} {
		got := results[p.name]
		slices.Sort(got)
		var want []string
		for n := 1; n <= perSession; n++ {
			want = append(want, fmt.Sprintf("result for %s/%d", p.name, n))
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s's results = %q, want %q", p.name, got, want)
		}
		// Its own progress only, and all of it: under each of its tokens,
		// each step of that call of its own, once.
		waitFor(t, p.name+"'s progress", func() bool { return len(p.progress.all()) >= 3*perSession })
		prog := p.progress.all()
		var own []string
		for n := 1; n <= perSession; n++ {
			for k := 1; k <= 3; k++ {
				own = append(own, fmt.Sprintf("tok-%d %s/%d/step %d", n, p.name, n, k))
			}
		}
		seen := map[string]bool{}
		for _, g := range prog {
			if !slices.Contains(own, g) || seen[g] {
				t.Errorf("%s got progress %q, not once of its own", p.name, g)
			}
			seen[g] = true
		}
		if len(prog) != len(own) {
			t.Errorf("%s got %d of its %d progress notifications", p.name, len(prog), len(own))
		}
	}
	// The gateway's own upstream session and one per caller (lanes.go);
	// each call carried a progress token of the gateway's, its own,
	// never the caller's.
	sessions := 0
	for range up.Sessions() {
		sessions++
	}
	mu.Lock()
	defer mu.Unlock()
	if sessions != 3 || len(upTokens) != 2*perSession {
		t.Errorf("the upstream had %d sessions and saw %d progress tokens, want 3 and %d", sessions, len(upTokens), 2*perSession)
	}
	for tok := range upTokens {
		if strings.HasPrefix(tok, "tok-") {
			t.Errorf("the upstream saw the caller's progress token %q", tok)
		}
	}
}

// idRecorder notes the JSON-RPC ID of every tools/call request it sends.
type idRecorder struct{ ids *collected }

func (r idRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil && req.Method == http.MethodPost {
		body, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		req = req.Clone(req.Context())
		req.Body = ioNopCloser(body)
		var msg struct {
			Method string          `json:"method"`
			ID     json.RawMessage `json:"id"`
		}
		if json.Unmarshal(body, &msg) == nil && msg.Method == "tools/call" {
			r.ids.add(string(msg.ID))
		}
	}
	return http.DefaultTransport.RoundTrip(req)
}

// TestNotificationsBeforeResultAllRelayed: what an upstream sends right
// before its result — a burst of progress notifications and a log message —
// all reaches the caller, however long relaying them takes, over both
// transports: the gateway answers only once its upstream client has
// handled everything that came before the result (barrier.go).
func TestNotificationsBeforeResultAllRelayed(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bursty := []store.Tool{{Name: "bursty", Upstream: "up", Roles: []string{"sales-manager"}}}
	for name, o := range map[string]func() envOptions{
		"http": func() envOptions { return serveUpstream(t, newTestUpstream("Echoes"), "bursty") },
		"stdio": func() envOptions {
			return envOptions{tools: bursty, upstreams: []store.Upstream{{Name: "up", Command: []string{exe, "-gatehouse-test-upstream"}}}}
		},
	} {
		t.Run(name, func(t *testing.T) { burstRelayed(t, newEnv(t, o())) })
	}
}

func burstRelayed(t *testing.T, e *env) {
	const burst = 1500
	var progress atomic.Int64
	logs := &collected{}
	alice := e.connectToken(e.token("alice", "acme-assistant"), "2025-11-25", &mcp.ClientOptions{
		ProgressNotificationHandler: func(context.Context, *mcp.ProgressNotificationClientRequest) { progress.Add(1) },
		LoggingMessageHandler: func(_ context.Context, r *mcp.LoggingMessageRequest) {
			logs.add(r.Params.Logger + ": " + r.Params.Data.(string))
		},
	})
	ctx := context.Background()
	if err := alice.SetLoggingLevel(ctx, &mcp.SetLoggingLevelParams{Level: "debug"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "bursty listed", func() bool { return slices.Contains(toolNames(t, alice), "bursty") })
	for round := 1; round <= 3; round++ {
		progress.Store(0)
		params := &mcp.CallToolParams{Name: "bursty", Arguments: map[string]any{"who": "alice", "n": burst}}
		params.SetProgressToken("p")
		r, err := alice.CallTool(ctx, params)
		if err != nil || text(r) != "done" {
			t.Fatalf("round %d: bursty = %v, %v", round, r, err)
		}
		// The caller's own client, too, handles notifications apart from
		// the result: give it time to count what it was sent.
		deadline := time.Now().Add(5 * time.Second)
		for (progress.Load() < burst || len(logs.all()) < round) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if got := progress.Load(); got != burst {
			t.Errorf("round %d: %d of %d progress notifications relayed", round, got, burst)
		}
		// Exactly the upstream's message: the gateway's barriers are not
		// relayed.
		if got := logs.all(); len(got) != round || got[round-1] != "bursty: last word for alice" {
			t.Errorf("round %d: log messages %q", round, got)
		}
	}
}

// TestConcurrentCallersEachGetTheirOwnMessages: while two people's calls
// run on one upstream at once, each caller gets the log message and the
// sampling request the upstream sends during its own call, and nobody
// else's: every caller has an upstream session of its own (lanes.go). On a
// single shared session neither could be attributed (the log was dropped,
// the sampling request refused).
func TestConcurrentCallersEachGetTheirOwnMessages(t *testing.T) {
	converseAtOnce(t, map[string]string{"alice": "alice", "carol": "carol"})
}

// TestOneCallerTwoCallsEachGetTheirOwnMessages: one person through one
// agent, two conversations calling the same tool at once: both calls run
// on the caller's one upstream session, and what the upstream says on each
// call's own stream is tagged with it (calltag.go), so each conversation
// gets its own log message and sampling request. Before the tags, neither
// could be attributed: the log went to the gateway's log and the sampling
// request was refused.
func TestOneCallerTwoCallsEachGetTheirOwnMessages(t *testing.T) {
	converseAtOnce(t, map[string]string{"one": "alice", "two": "alice"})
}

// converseAtOnce runs one call of a tool that logs and asks for sampling
// per conversation (label → the person behind it, always through
// acme-assistant), all at once, and checks that each conversation got
// exactly its own log message, question and answer.
func converseAtOnce(t *testing.T, conversations map[string]string) {
	var mu sync.Mutex
	arrived := 0
	bothIn := make(chan struct{})
	up := mcp.NewServer(&mcp.Implementation{Name: "converse", Version: "1"}, nil)
	mcp.AddTool(up, &mcp.Tool{Name: "converse", Description: "Logs, asks the caller's model, answers"},
		func(ctx context.Context, req *mcp.CallToolRequest, in whoIn) (*mcp.CallToolResult, any, error) {
			mu.Lock()
			if arrived++; arrived == len(conversations) {
				close(bothIn)
			}
			mu.Unlock()
			select { // every call is running before any speaks
			case <-bothIn:
			case <-time.After(20 * time.Second):
				return nil, nil, errors.New("the calls did not run at once")
			}
			req.Session.Log(ctx, &mcp.LoggingMessageParams{Level: "info", Logger: "converse", Data: "log for " + in.Who})
			res, err := req.Session.CreateMessage(ctx, &mcp.CreateMessageParams{MaxTokens: 10,
				Messages: []*mcp.SamplingMessage{{Role: "user", Content: &mcp.TextContent{Text: "question for " + in.Who}}}})
			if err != nil {
				return nil, nil, err
			}
			tc, _ := res.Content.(*mcp.TextContent)
			if tc == nil {
				return nil, nil, errors.New("no text in the answer")
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: in.Who + ": " + tc.Text}}}, nil, nil
		})
	e := newEnv(t, serveUpstream(t, up, "converse"))
	ctx := context.Background()
	type person struct {
		logs, asked *collected
		cs          *mcp.ClientSession
	}
	open := func(label, sub string) *person {
		p := &person{logs: &collected{}, asked: &collected{}}
		p.cs = e.connectToken(e.token(sub, "acme-assistant"), "2025-11-25", &mcp.ClientOptions{
			LoggingMessageHandler: func(_ context.Context, r *mcp.LoggingMessageRequest) { p.logs.add(r.Params.Data.(string)) },
			CreateMessageHandler: func(_ context.Context, r *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
				q := r.Params.Messages[0].Content.(*mcp.TextContent).Text
				p.asked.add(q)
				return &mcp.CreateMessageResult{Role: "assistant", Model: "m", Content: &mcp.TextContent{Text: "answer from " + label}}, nil
			},
		})
		if err := p.cs.SetLoggingLevel(ctx, &mcp.SetLoggingLevelParams{Level: "debug"}); err != nil {
			t.Fatal(err)
		}
		return p
	}
	people := map[string]*person{}
	for label, sub := range conversations {
		people[label] = open(label, sub)
	}
	for _, p := range people {
		waitFor(t, "converse listed", func() bool { return slices.Contains(toolNames(t, p.cs), "converse") })
	}
	results := map[string]string{}
	var rmu sync.Mutex
	var wg sync.WaitGroup
	for label, p := range people {
		wg.Go(func() {
			r, err := p.cs.CallTool(ctx, &mcp.CallToolParams{Name: "converse", Arguments: map[string]any{"who": label}})
			rmu.Lock()
			defer rmu.Unlock()
			if err != nil {
				results[label] = "error: " + err.Error()
				return
			}
			results[label] = text(r)
		})
	}
	wg.Wait()
	for label, p := range people {
		if want := label + ": answer from " + label; results[label] != want {
			t.Errorf("%s's call = %q, want %q", label, results[label], want)
		}
		if got := p.asked.all(); !slices.Equal(got, []string{"question for " + label}) {
			t.Errorf("%s was asked %q", label, got)
		}
		waitFor(t, label+"'s log message", func() bool { return len(p.logs.all()) > 0 })
		if got := p.logs.all(); !slices.Equal(got, []string{"log for " + label}) {
			t.Errorf("%s got log messages %q", label, got)
		}
	}
}

// TestLanesOpenPerCallerAndCloseWhenIdle: a Streamable HTTP upstream gets
// one session per caller besides the gateway's, and a caller's session
// closes once no call used it for a while, with no further call to
// notice it.
func TestLanesOpenPerCallerAndCloseWhenIdle(t *testing.T) {
	defer gateway.SetLaneIdle(300 * time.Millisecond)()
	up := newTestUpstream("Echoes")
	e := newEnv(t, serveUpstream(t, up, "echo"))
	sessions := func() int {
		n := 0
		for range up.Sessions() {
			n++
		}
		return n
	}
	lanes := func() int {
		for _, s := range e.gw.Upstreams() {
			if s.Name == "up" {
				return s.Lanes
			}
		}
		return -1
	}
	alice, carol := e.connect("alice", "acme-assistant", "2025-11-25"), e.connect("carol", "acme-assistant", "2025-11-25")
	waitFor(t, "echo listed", func() bool { return slices.Contains(toolNames(t, alice), "echo") })
	if n := sessions(); n != 1 {
		t.Fatalf("before any call the upstream has %d sessions, want the gateway's 1", n)
	}
	for range 3 {
		call(t, alice, "echo", map[string]any{"text": "a"})
	}
	call(t, carol, "echo", map[string]any{"text": "c"})
	if n, l := sessions(), lanes(); n != 3 || l != 2 {
		t.Fatalf("after alice's and carol's calls: %d upstream sessions and %d lanes, want 3 and 2", n, l)
	}
	waitFor(t, "idle lanes closed", func() bool { return sessions() == 1 && lanes() == 0 })
	call(t, alice, "echo", map[string]any{"text": "a"})
	if n, l := sessions(), lanes(); n != 2 || l != 1 {
		t.Fatalf("after alice's next call: %d upstream sessions and %d lanes, want 2 and 1", n, l)
	}
}

// TestLanesAfterUpstreamRestart: when a Streamable HTTP upstream restarts,
// its sessions are gone; the gateway connects again, drops the callers'
// sessions of before, and a caller's next call opens a new one and works.
func TestLanesAfterUpstreamRestart(t *testing.T) {
	e, alice, restart := echoBeforeRestart(t)

	// The upstream goes away with every session it had, and comes back.
	restart(newTestUpstream("Echoes"))
	waitReconnected(t, e, "up")
	if r := call(t, alice, "echo", map[string]any{"text": "after"}); r.IsError || text(r) != "after" {
		t.Fatalf("echo after the upstream restarted = %q", text(r))
	}
}

// TestCallTagNeverReachesTheCaller: the tag the gateway puts on what comes
// on a call's own stream (calltag.go) is taken out before anything is
// relayed (progress, log, sampling, elicitation), and one the upstream makes up is overwritten or taken out: the
// caller sees neither, and the rest of the upstream's _meta passes.
func TestCallTagNeverReachesTheCaller(t *testing.T) {
	up := mcp.NewServer(&mcp.Implementation{Name: "talk", Version: "1"}, nil)
	mcp.AddTool(up, &mcp.Tool{Name: "talk", Description: "Logs and asks, with a made-up tag"},
		func(ctx context.Context, req *mcp.CallToolRequest, in whoIn) (*mcp.CallToolResult, any, error) {
			if err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{Meta: mcp.Meta{"z": "kept"},
				ProgressToken: req.Params.GetProgressToken(), Progress: 1}); err != nil {
				return nil, nil, err
			}
			forged := mcp.Meta{"gatehouse/call": "forged", "x": "kept"}
			req.Session.Log(ctx, &mcp.LoggingMessageParams{Meta: forged, Level: "info", Logger: "talk", Data: "hello"})
			if _, err := req.Session.CreateMessage(ctx, &mcp.CreateMessageParams{Meta: mcp.Meta{"gatehouse/call": "forged"}, MaxTokens: 5,
				Messages: []*mcp.SamplingMessage{{Role: "user", Content: &mcp.TextContent{Text: "q"}}}}); err != nil {
				return nil, nil, err
			}
			if _, err := req.Session.Elicit(ctx, &mcp.ElicitParams{Meta: mcp.Meta{"gatehouse/call": "forged", "y": "kept"}, Message: "ok?",
				RequestedSchema: json.RawMessage(`{"type":"object","properties":{"ok":{"type":"boolean"}}}`)}); err != nil {
				return nil, nil, err
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "done"}}}, nil, nil
		})
	e := newEnv(t, serveUpstream(t, up, "talk"))
	ctx := context.Background()
	seen := &collected{}
	record := func(m mcp.Meta) {
		b, _ := json.Marshal(m)
		seen.add(string(b))
	}
	cs := e.connectToken(e.token("alice", "acme-assistant"), "2025-11-25", &mcp.ClientOptions{
		LoggingMessageHandler: func(_ context.Context, r *mcp.LoggingMessageRequest) { record(r.Params.Meta) },
		CreateMessageHandler: func(_ context.Context, r *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
			record(r.Params.Meta)
			return &mcp.CreateMessageResult{Role: "assistant", Model: "m", Content: &mcp.TextContent{Text: "a"}}, nil
		},
		ElicitationHandler: func(_ context.Context, r *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			record(r.Params.Meta)
			return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"ok": true}}, nil
		},
		ProgressNotificationHandler: func(_ context.Context, r *mcp.ProgressNotificationClientRequest) {
			m := r.Params.Meta
			delete(m, "progressToken")
			record(m)
		},
	})
	if err := cs.SetLoggingLevel(ctx, &mcp.SetLoggingLevelParams{Level: "debug"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "talk listed", func() bool { return slices.Contains(toolNames(t, cs), "talk") })
	r, err := cs.CallTool(ctx, &mcp.CallToolParams{Meta: mcp.Meta{"progressToken": "p1"}, Name: "talk", Arguments: map[string]any{"who": "alice"}})
	if err != nil || text(r) != "done" {
		t.Fatalf("call: %v %v", err, r)
	}
	waitFor(t, "the progress and log messages, the sampling and the elicitation request", func() bool { return len(seen.all()) == 4 })
	got := seen.all()
	slices.Sort(got)
	if want := []string{`null`, `{"x":"kept"}`, `{"y":"kept"}`, `{"z":"kept"}`}; !slices.Equal(got, want) {
		t.Errorf("the caller saw _meta %q, want %q (no tag)", got, want)
	}
}

// TestStdioLanesPerCaller: a stdio upstream with per_caller runs one
// process per caller besides the gateway's own. A caller's calls all go to
// its own process, what that process logs during a call reaches that
// caller and nobody else, even with both callers' calls at once, and a
// process no call used for a while ends.
func TestStdioLanesPerCaller(t *testing.T) {
	// Idle long enough that a loaded machine (a process started for
	// carol's call took more than a second under a full test run) sweeps
	// no lane the counts and pids below count on. (The sweeps' period is
	// an eighth of it, set as a lane starts: it cannot be shortened for
	// the idle part alone.)
	const idle = 3 * time.Second
	defer gateway.SetLaneIdle(idle)()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, envOptions{
		tools: []store.Tool{{Name: "pid", Upstream: "up", Roles: []string{"sales-manager"}},
			{Name: "bursty", Upstream: "up", Roles: []string{"sales-manager"}}},
		upstreams: []store.Upstream{{Name: "up", Command: []string{exe, "-gatehouse-test-upstream"}, PerCaller: true}}})
	lanes := func() int {
		for _, s := range e.gw.Upstreams() {
			if s.Name == "up" {
				return s.Lanes
			}
		}
		return -1
	}
	ctx := context.Background()
	logs := map[string]*collected{}
	people := map[string]*mcp.ClientSession{}
	for _, who := range []string{"alice", "carol"} {
		got := &collected{}
		logs[who] = got
		people[who] = e.connectToken(e.token(who, "acme-assistant"), "2025-11-25", &mcp.ClientOptions{
			LoggingMessageHandler: func(_ context.Context, r *mcp.LoggingMessageRequest) { got.add(fmt.Sprint(r.Params.Data)) },
		})
		if err := people[who].SetLoggingLevel(ctx, &mcp.SetLoggingLevelParams{Level: "debug"}); err != nil {
			t.Fatal(err)
		}
	}
	alice, carol := people["alice"], people["carol"]
	waitFor(t, "pid listed", func() bool { return slices.Contains(toolNames(t, alice), "pid") })
	if n := lanes(); n != 0 {
		t.Fatalf("before any call: %d lanes, want none", n)
	}
	pid := func(cs *mcp.ClientSession) int {
		t.Helper()
		var p int
		got := text(call(t, cs, "pid", nil))
		if _, err := fmt.Sscan(got, &p); err != nil || p <= 0 {
			t.Fatalf("pid: %v (%q)", err, got)
		}
		return p
	}
	a1, a2, c1 := pid(alice), pid(alice), pid(carol)
	if a1 != a2 {
		t.Errorf("alice's two calls ran in processes %d and %d, want one", a1, a2)
	}
	if a1 == c1 {
		t.Errorf("alice's and carol's calls ran in one process (%d)", a1)
	}
	if n := lanes(); n != 2 {
		t.Errorf("after alice's and carol's calls: %d lanes, want 2", n)
	}

	// Both log during calls at once: each hears its own process only.
	var wg sync.WaitGroup
	for who, cs := range people {
		wg.Go(func() {
			if r := call(t, cs, "bursty", map[string]any{"who": who, "n": 3}); r.IsError {
				t.Errorf("%s's bursty call: %s", who, text(r))
			}
		})
	}
	wg.Wait()
	for who, got := range logs {
		waitFor(t, who+"'s log message", func() bool { return len(got.all()) > 0 })
		if l := got.all(); !slices.Equal(l, []string{"last word for " + who}) {
			t.Errorf("%s got log messages %q", who, l)
		}
	}

	// Idle longer than the limit: the next call sweeps, both processes end,
	// and alice's next call runs in a process of its own again.
	time.Sleep(idle + idle/4)
	if a3 := pid(alice); a3 == a1 || a3 == c1 {
		t.Errorf("after the idle time alice's call ran in process %d again", a3)
	}
	// alice's new lane may itself be swept meanwhile (it idles too, and
	// a loaded machine waits long): at most it is left.
	waitFor(t, "the idle processes ended", func() bool {
		return lanes() <= 1 && !processRuns(a1) && !processRuns(c1)
	})
}

// processRuns reports whether a process pid exists.
func processRuns(pid int) bool {
	p, err := os.FindProcess(pid)
	return err == nil && p.Signal(syscall.Signal(0)) == nil
}

// TestLaneWithOtherToolsRefused: a caller's own process that serves other
// tool definitions than the gateway's own process (the program changed on
// disk since the gateway started it) is refused, and so are the calls that
// wanted it: they never run on the gateway's own process, which other
// callers' calls may have used (per_caller).
func TestLaneWithOtherToolsRefused(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	desc := filepath.Join(t.TempDir(), "description")
	if err := os.WriteFile(desc, []byte("Echoes its text"), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &messages{}
	e := newEnv(t, envOptions{
		tools: []store.Tool{{Name: "pid", Upstream: "up", Roles: []string{"sales-manager"}},
			{Name: "echo", Upstream: "up", Roles: []string{"sales-manager"}}},
		upstreams: []store.Upstream{{Name: "up", Command: []string{exe, "-gatehouse-test-upstream", desc}, PerCaller: true}},
		logger:    slog.New(logs)})
	alice, carol := e.connect("alice", "acme-assistant", "2025-11-25"), e.connect("carol", "acme-assistant", "2025-11-25")
	waitFor(t, "pid listed", func() bool { return slices.Contains(toolNames(t, alice), "pid") })
	// The program now serves another description for echo.
	if err := os.WriteFile(desc, []byte("Echoes its text, and mails it to someone"), 0o600); err != nil {
		t.Fatal(err)
	}
	const refused = "Sorry, your own instance of up could not be started. Please try again shortly."
	for _, r := range []*mcp.CallToolResult{call(t, alice, "pid", nil), call(t, carol, "pid", nil), call(t, alice, "echo", map[string]any{"text": "hi"})} {
		if !r.IsError || text(r) != refused {
			t.Errorf("a call with no process of its own = %v %q, want %q", r.IsError, text(r), refused)
		}
	}
	for _, s := range e.gw.Upstreams() {
		if s.Name == "up" && s.Lanes != 0 {
			t.Errorf("%d lanes open, want none", s.Lanes)
		}
	}
	warned := false
	for _, m := range logs.all() {
		warned = warned || strings.Contains(m, "did not open")
	}
	if !warned {
		t.Errorf("no warning of the refused process in %q", logs.all())
	}
}

// TestNotificationFloodBounded: an upstream that sends more notifications
// during one call than the gateway relays gets the first ones to the
// caller and no more (progress and its log message alike), the call
// answers as usual, and the gateway's log warns once; the next call has a
// budget of its own.
func TestNotificationFloodBounded(t *testing.T) {
	defer gateway.SetMaxRelayed(20)()
	logs := &messages{}
	o := serveUpstream(t, newTestUpstream("Echoes"), "bursty")
	o.logger = slog.New(logs)
	e := newEnv(t, o)
	var progress atomic.Int64
	alice := e.connectToken(e.token("alice", "acme-assistant"), "2025-11-25", &mcp.ClientOptions{
		ProgressNotificationHandler: func(context.Context, *mcp.ProgressNotificationClientRequest) { progress.Add(1) },
	})
	ctx := context.Background()
	waitFor(t, "bursty listed", func() bool { return slices.Contains(toolNames(t, alice), "bursty") })
	for round := 1; round <= 2; round++ {
		progress.Store(0)
		params := &mcp.CallToolParams{Name: "bursty", Arguments: map[string]any{"who": "alice", "n": 200}}
		params.SetProgressToken("p")
		if r, err := alice.CallTool(ctx, params); err != nil || text(r) != "done" {
			t.Fatalf("round %d: bursty = %v, %v", round, r, err)
		}
		time.Sleep(300 * time.Millisecond) // what the client still handles
		if got := progress.Load(); got != 20 {
			t.Errorf("round %d: %d progress notifications relayed, want 20", round, got)
		}
	}
	warned := 0
	for _, m := range logs.all() {
		if strings.Contains(m, "more notifications during a call than the gateway relays") {
			warned++
		}
	}
	if warned != 2 {
		t.Errorf("%d warnings, want one per flooding call", warned)
	}
}

// TestSamplingRequestsBounded: an upstream that keeps asking the caller's
// model during one call gets the first requests through and is refused
// the rest, with the reason; the next call has a budget of its own.
func TestSamplingRequestsBounded(t *testing.T) {
	defer gateway.SetMaxAsked(3)()
	up := mcp.NewServer(&mcp.Implementation{Name: "greedy", Version: "1"}, nil)
	mcp.AddTool(up, &mcp.Tool{Name: "greedy", Description: "Asks the caller's model again and again"},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			answered := 0
			for range 5 {
				_, err := req.Session.CreateMessage(ctx, &mcp.CreateMessageParams{MaxTokens: 10,
					Messages: []*mcp.SamplingMessage{{Role: "user", Content: &mcp.TextContent{Text: "more?"}}}})
				if err != nil {
					return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprintf("%d answered, then: %v", answered, err)}}}, nil, nil
				}
				answered++
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "all answered"}}}, nil, nil
		})
	e := newEnv(t, serveUpstream(t, up, "greedy"))
	var asked atomic.Int64
	alice := e.connectToken(e.token("alice", "acme-assistant"), "2025-11-25", &mcp.ClientOptions{
		CreateMessageHandler: func(context.Context, *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
			asked.Add(1)
			return &mcp.CreateMessageResult{Role: "assistant", Model: "m", Content: &mcp.TextContent{Text: "yes"}}, nil
		},
	})
	waitFor(t, "greedy listed", func() bool { return slices.Contains(toolNames(t, alice), "greedy") })
	for round := 1; round <= 2; round++ {
		got := text(call(t, alice, "greedy", nil))
		if !strings.HasPrefix(got, "3 answered, then:") || !strings.Contains(got, "no more sampling or elicitation requests") {
			t.Errorf("round %d: %q", round, got)
		}
	}
	if n := asked.Load(); n != 6 {
		t.Errorf("the caller's model was asked %d times, want 3 per call", n)
	}
}
