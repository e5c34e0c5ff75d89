package gateway_test

//lint:file-ignore SA1019 the upstream logs through the SDK: logging is deprecated from protocol revision 2026-07-28 on but relayed for the revisions before it.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/store"
)

// TestUpstreamLogLevelErrorNamesNoSecret: an upstream whose connection
// breaks while the gateway asks it for its log messages (logging/setLevel)
// has the failure logged, at debug, without its URL's credential: the HTTP
// client's error quotes the URL, query and all.
func TestUpstreamLogLevelErrorNamesNoSecret(t *testing.T) {
	up := mcp.NewServer(&mcp.Implementation{Name: "lv", Version: "1"}, nil)
	addEcho(up, "Echoes its text")
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return up }, nil)
	var broke sync.Once
	us := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		if bytes.Contains(body, []byte(`"logging/setLevel"`)) {
			did := false
			broke.Do(func() {
				did = true
				if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
					conn.Close()
				}
			})
			if did {
				return
			}
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(us.Close)
	const secret = "s3cret-upstream-key"
	buf := &lockedBuffer{mu: &sync.Mutex{}}
	e := newEnv(t, envOptions{logger: slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})),
		tools:     []store.Tool{{Name: "echo", Upstream: "up", Roles: []string{"sales-manager"}}},
		upstreams: []store.Upstream{{Name: "up", URL: us.URL + "/?key=" + secret}}})
	cs := e.connect("alice", "acme-assistant", "2025-11-25")
	waitFor(t, "the upstream's tools", func() bool { return slices.Contains(toolNames(t, cs), "echo") })
	waitFor(t, "the refused log level logged", func() bool { return strings.Contains(buf.String(), "upstream refused a log level") })
	for _, l := range strings.Split(buf.String(), "\n") {
		if strings.Contains(l, secret) {
			t.Errorf("the upstream's key in the log: %s", l)
		}
	}
}

// TestCallTransportErrorBoundedInLog: an upstream that answers a call
// with a new session ID, or a content type, of half a megabyte fails the
// call (the caller is told it may have run: the upstream had it), and the
// warning that says why is cut short: the SDK's error quotes the
// upstream's header whole, and it was written whole, a line of the
// upstream's size at every call.
func TestCallTransportErrorBoundedInLog(t *testing.T) {
	for _, header := range []string{"Mcp-Session-Id", "Content-Type"} {
		t.Run(header, func(t *testing.T) {
			up := mcp.NewServer(&mcp.Implementation{Name: "swap", Version: "1"}, nil)
			addEcho(up, "Echoes its text")
			h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return up }, nil)
			huge := strings.Repeat("S", 512<<10)
			us := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				r.Body = io.NopCloser(bytes.NewReader(body))
				if bytes.Contains(body, []byte(`"tools/call"`)) {
					if header == "Content-Type" {
						w.Header().Set(header, "x/"+huge)
						w.WriteHeader(http.StatusOK)
						return
					}
					w.Header().Set(header, huge)
				}
				h.ServeHTTP(w, r)
			}))
			t.Cleanup(us.Close)
			buf := &lockedBuffer{mu: &sync.Mutex{}}
			e := newEnv(t, envOptions{logger: slog.New(slog.NewTextHandler(buf, nil)),
				tools:     []store.Tool{{Name: "echo", Upstream: "up", Roles: []string{"sales-manager"}}},
				upstreams: []store.Upstream{{Name: "up", URL: us.URL}}})
			cs := e.connect("alice", "acme-assistant", "2025-11-25")
			waitFor(t, "the upstream's tools", func() bool { return slices.Contains(toolNames(t, cs), "echo") })
			res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "hi"}})
			if err != nil || !res.IsError || !strings.Contains(text(res), "may have run") || len(text(res)) > 1<<10 {
				t.Errorf("the call = %v, %v", res, err)
			}
			waitFor(t, "the failure logged", func() bool { return strings.Contains(buf.String(), "tool call failed") })
			for _, l := range strings.Split(buf.String(), "\n") {
				if len(l) > 8<<10 {
					t.Errorf("a log line of %d bytes: %.200s...", len(l), l)
				}
			}
		})
	}
}

// TestUnattributedUpstreamLogBounded: a log message an upstream sends
// while none of its calls runs goes to the gateway's own log, at debug;
// its data, as large as the upstream likes (up to an event's 16 MiB), is
// cut short there, as a stdio upstream's stderr line is.
func TestUnattributedUpstreamLogBounded(t *testing.T) {
	var mu sync.Mutex
	var sessions []*mcp.ServerSession
	up := mcp.NewServer(&mcp.Implementation{Name: "chatty", Version: "1"}, &mcp.ServerOptions{
		InitializedHandler: func(_ context.Context, req *mcp.InitializedRequest) {
			mu.Lock()
			sessions = append(sessions, req.Session)
			mu.Unlock()
		},
	})
	addEcho(up, "Echoes its text")
	buf := &lockedBuffer{mu: &sync.Mutex{}}
	e := newEnv(t, envOptions{logger: slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})),
		tools:     []store.Tool{{Name: "echo", Upstream: "up", Roles: []string{"sales-manager"}}},
		upstreams: []store.Upstream{{Name: "up", URL: serveMCP(t, up)}}})
	cs := e.connect("alice", "acme-assistant", "2025-11-25")
	waitFor(t, "the upstream's tools", func() bool { return slices.Contains(toolNames(t, cs), "echo") })
	mu.Lock()
	ss := slices.Clone(sessions)
	mu.Unlock()
	huge := strings.Repeat("L", 1<<20)
	for _, s := range ss {
		if err := s.Log(context.Background(), &mcp.LoggingMessageParams{Level: "error", Logger: strings.Repeat("n", 64<<10), Data: huge}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the upstream's log message logged", func() bool { return strings.Contains(buf.String(), "gateway: upstream log") })
	for _, l := range strings.Split(buf.String(), "\n") {
		if len(l) > 8<<10 {
			t.Errorf("a log line of %d bytes: %.200s...", len(l), l)
		}
	}
}

// TestUpstreamRedirectMidSessionNotFollowed: an upstream that serves its
// handshake, then answers its event stream (GET) and a call with
// redirects to another host gets neither the gateway's credentials nor
// the call's arguments sent there (nor to another scheme: no redirect is
// followed); the caller is told the call failed.
func TestUpstreamRedirectMidSessionNotFollowed(t *testing.T) {
	t.Setenv("GH_TEST_UPSTREAM_AUTH", "Bearer the-gateways-own")
	var mu sync.Mutex
	var reached []string
	record := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		reached = append(reached, r.Method+" "+r.Header.Get("Authorization")+" "+string(body))
		mu.Unlock()
		http.Error(w, "not an MCP server", http.StatusNotFound)
	})
	plain := httptest.NewServer(record)
	t.Cleanup(plain.Close)
	up := mcp.NewServer(&mcp.Implementation{Name: "redir", Version: "1"}, nil)
	addEcho(up, "Echoes its text")
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return up }, nil)
	us := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		switch {
		case r.Method == http.MethodGet:
			http.Redirect(w, r, plain.URL+"/stream", http.StatusFound)
		case bytes.Contains(body, []byte(`"tools/call"`)):
			http.Redirect(w, r, plain.URL+"/call", http.StatusTemporaryRedirect)
		default:
			h.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(us.Close)
	e := newEnv(t, envOptions{tools: []store.Tool{{Name: "echo", Upstream: "up", Roles: []string{"sales-manager"}}},
		upstreams: []store.Upstream{{Name: "up", URL: us.URL, HeadersEnv: map[string]string{"Authorization": "GH_TEST_UPSTREAM_AUTH"}}}})
	cs := e.connect("alice", "acme-assistant", "2025-11-25")
	waitFor(t, "the upstream's tools", func() bool { return slices.Contains(toolNames(t, cs), "echo") })
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "card 4111"}})
	if err != nil || !res.IsError {
		t.Errorf("the redirected call = %v, %v", res, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reached) != 0 {
		t.Errorf("a redirect was followed: %q", reached)
	}
}

// TestCallersTokenNeverReachesTheUpstream: everything the gateway sends a
// Streamable HTTP upstream (the handshake, every listing, a tool call, a
// prompt, a resource read, a subscription and its end, a completion, the
// event stream's GET, and the DELETE that ends each session) carries
// nothing of the caller's access token.
func TestCallersTokenNeverReachesTheUpstream(t *testing.T) {
	up := mcp.NewServer(&mcp.Implementation{Name: "rec", Version: "1"}, &mcp.ServerOptions{
		CompletionHandler: func(context.Context, *mcp.CompleteRequest) (*mcp.CompleteResult, error) {
			return &mcp.CompleteResult{Completion: mcp.CompletionResultDetails{Values: []string{"Bob"}}}, nil
		},
		SubscribeHandler:   func(context.Context, *mcp.SubscribeRequest) error { return nil },
		UnsubscribeHandler: func(context.Context, *mcp.UnsubscribeRequest) error { return nil },
	})
	addEcho(up, "Echoes its text")
	up.AddPrompt(&mcp.Prompt{Name: "greet", Description: "Greets someone", Arguments: []*mcp.PromptArgument{{Name: "name"}}},
		func(context.Context, *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
			return &mcp.GetPromptResult{Messages: []*mcp.PromptMessage{{Role: "user", Content: &mcp.TextContent{Text: "hi"}}}}, nil
		})
	up.AddResource(&mcp.Resource{URI: "file:///notes.txt", Name: "notes", MIMEType: "text/plain"},
		func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
			return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, MIMEType: "text/plain", Text: "notes"}}}, nil
		})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return up }, nil)
	var mu sync.Mutex
	var seen bytes.Buffer
	methods := map[string]int{}
	us := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		mu.Lock()
		methods[r.Method]++
		fmt.Fprintf(&seen, "%s %s\n", r.Method, r.URL)
		r.Header.Write(&seen)
		seen.Write(body)
		seen.WriteString("\n")
		mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(us.Close)
	e := newEnv(t, envOptions{tools: []store.Tool{{Name: "echo", Upstream: "up", Roles: []string{"sales-manager"}}},
		upstreams: []store.Upstream{{Name: "up", URL: us.URL}}})
	tok := e.token("alice", "acme-assistant")
	cs := e.connectToken(tok, "2025-11-25", nil)
	ctx := context.Background()
	waitFor(t, "the upstream's tools", func() bool { return slices.Contains(toolNames(t, cs), "echo") })
	if r := call(t, cs, "echo", map[string]any{"text": "x"}); r.IsError {
		t.Fatalf("echo: %s", text(r))
	}
	waitFor(t, "the upstream's prompts", func() bool { pl, err := cs.ListPrompts(ctx, nil); return err == nil && len(pl.Prompts) > 0 })
	if _, err := cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: "greet", Arguments: map[string]string{"name": "B"}}); err != nil {
		t.Errorf("prompts/get: %v", err)
	}
	if _, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "file:///notes.txt"}); err != nil {
		t.Errorf("resources/read: %v", err)
	}
	if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: "file:///notes.txt"}); err != nil {
		t.Errorf("resources/subscribe: %v", err)
	}
	if err := cs.Unsubscribe(ctx, &mcp.UnsubscribeParams{URI: "file:///notes.txt"}); err != nil {
		t.Errorf("resources/unsubscribe: %v", err)
	}
	// The gateway unsubscribes upstream after answering the caller.
	waitFor(t, "the upstream's unsubscribe", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return strings.Contains(seen.String(), `"resources/unsubscribe"`)
	})
	if _, err := cs.Complete(ctx, &mcp.CompleteParams{Ref: &mcp.CompleteReference{Type: "ref/prompt", Name: "greet"},
		Argument: mcp.CompleteParamsArgument{Name: "name", Value: "B"}}); err != nil {
		t.Errorf("completion/complete: %v", err)
	}
	cs.Close()
	e.gw.Close() // the upstream's sessions end: DELETE
	mu.Lock()
	defer mu.Unlock()
	for _, m := range []string{http.MethodPost, http.MethodGet, http.MethodDelete} {
		if methods[m] == 0 {
			t.Errorf("the upstream saw no %s (saw %v)", m, methods)
		}
	}
	for _, want := range []string{`"tools/call"`, `"prompts/get"`, `"resources/read"`, `"resources/subscribe"`, `"resources/unsubscribe"`, `"completion/complete"`} {
		if !strings.Contains(seen.String(), want) {
			t.Errorf("the upstream saw no %s", want)
		}
	}
	sig := tok[strings.LastIndexByte(tok, '.')+1:]
	if s := seen.String(); strings.Contains(s, sig) || strings.Contains(s, "Bearer") {
		t.Error("the upstream got the caller's token")
	}
}

// TestResubscribeErrorBoundedInLog: an upstream whose session ended, and
// that refuses the subscriptions the gateway makes again on its new one
// with an error of a megabyte, has the refusal logged cut short, as the
// upstream's other errors are.
func TestResubscribeErrorBoundedInLog(t *testing.T) {
	var refuse atomic.Bool
	up := mcp.NewServer(&mcp.Implementation{Name: "subs", Version: "1"}, &mcp.ServerOptions{
		SubscribeHandler: func(context.Context, *mcp.SubscribeRequest) error {
			if refuse.Load() {
				return errors.New(strings.Repeat("E", 1<<20))
			}
			return nil
		},
		UnsubscribeHandler: func(context.Context, *mcp.UnsubscribeRequest) error { return nil },
	})
	addEcho(up, "Echoes its text")
	up.AddResource(&mcp.Resource{URI: "file:///notes.txt", Name: "notes", MIMEType: "text/plain"},
		func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
			return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, Text: "notes"}}}, nil
		})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return up }, nil)
	var gone atomic.Value // the session ID the upstream forgot
	gone.Store("")
	us := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id := r.Header.Get("Mcp-Session-Id"); id != "" && id == gone.Load().(string) {
			http.Error(w, "no such session", http.StatusNotFound)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(us.Close)
	buf := &lockedBuffer{mu: &sync.Mutex{}}
	e := newEnv(t, envOptions{logger: slog.New(slog.NewTextHandler(buf, nil)),
		tools:     []store.Tool{{Name: "echo", Upstream: "up", Roles: []string{"sales-manager"}}},
		upstreams: []store.Upstream{{Name: "up", URL: us.URL}}})
	cs := e.connect("alice", "acme-assistant", "2025-11-25")
	ctx := context.Background()
	waitFor(t, "the upstream's resource", func() bool {
		rl, err := cs.ListResources(ctx, nil)
		return err == nil && len(rl.Resources) > 0
	})
	if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: "file:///notes.txt"}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for s := range up.Sessions() {
		ids = append(ids, s.ID())
	}
	if len(ids) != 1 {
		t.Fatalf("the upstream has %d sessions", len(ids))
	}
	refuse.Store(true)
	gone.Store(ids[0])
	us.CloseClientConnections() // its event stream ends; reopened, it finds the session gone
	waitFor(t, "the refusal logged", func() bool { return strings.Contains(buf.String(), "subscribe a reconnected upstream again") })
	for _, l := range strings.Split(buf.String(), "\n") {
		if len(l) > 8<<10 {
			t.Errorf("a log line of %d bytes: %.200s...", len(l), l)
		}
	}
}
