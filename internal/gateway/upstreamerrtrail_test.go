package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/store"
)

// featureServer is an upstream with a tool, a prompt, a resource, a
// completion and subscriptions, each answering at once: with the error
// fail gives for the session it came on, when fail is not nil.
func featureServer(fail func(*mcp.ServerSession) error) *mcp.Server {
	up := mcp.NewServer(&mcp.Implementation{Name: "features", Version: "1"}, &mcp.ServerOptions{
		CompletionHandler: func(_ context.Context, req *mcp.CompleteRequest) (*mcp.CompleteResult, error) {
			if fail != nil {
				return nil, fail(req.Session)
			}
			return &mcp.CompleteResult{Completion: mcp.CompletionResultDetails{Values: []string{"b"}}}, nil
		},
		SubscribeHandler: func(_ context.Context, req *mcp.SubscribeRequest) error {
			if fail != nil {
				return fail(req.Session)
			}
			return nil
		},
		UnsubscribeHandler: func(context.Context, *mcp.UnsubscribeRequest) error { return nil },
	})
	mcp.AddTool(up, &mcp.Tool{Name: "echo", Description: "Echoes its text"},
		func(_ context.Context, req *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, any, error) {
			if fail != nil {
				return nil, nil, fail(req.Session)
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: in.Text}}}, nil, nil
		})
	up.AddPrompt(&mcp.Prompt{Name: "greet"}, func(_ context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		if fail != nil {
			return nil, fail(req.Session)
		}
		return &mcp.GetPromptResult{Messages: []*mcp.PromptMessage{{Role: "user", Content: &mcp.TextContent{Text: "hello"}}}}, nil
	})
	up.AddResource(&mcp.Resource{URI: "file:///notes.txt", Name: "notes", MIMEType: "text/plain"},
		func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
			if fail != nil {
				return nil, fail(req.Session)
			}
			return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, Text: "notes"}}}, nil
		})
	return up
}

// featureRequests are a caller's requests of each kind the gateway
// forwards to an upstream, by the method it forwards: each returns what
// the caller was told of its failure, or an error if it did not fail.
var featureRequests = map[string]func(context.Context, *mcp.ClientSession) (string, error){
	"tools/call": func(ctx context.Context, cs *mcp.ClientSession) (string, error) {
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "hi"}})
		if err != nil {
			return err.Error(), nil
		}
		if !res.IsError {
			return "", errors.New("the call did not fail")
		}
		return text(res), nil
	},
	"prompts/get": func(ctx context.Context, cs *mcp.ClientSession) (string, error) {
		_, err := cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: "greet"})
		return failed(err)
	},
	"resources/read": func(ctx context.Context, cs *mcp.ClientSession) (string, error) {
		_, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "file:///notes.txt"})
		return failed(err)
	},
	"completion/complete": func(ctx context.Context, cs *mcp.ClientSession) (string, error) {
		_, err := cs.Complete(ctx, &mcp.CompleteParams{Ref: &mcp.CompleteReference{Type: "ref/prompt", Name: "greet"},
			Argument: mcp.CompleteParamsArgument{Name: "x", Value: "a"}})
		return failed(err)
	},
	"resources/subscribe": func(ctx context.Context, cs *mcp.ClientSession) (string, error) {
		return failed(cs.Subscribe(ctx, &mcp.SubscribeParams{URI: "file:///notes.txt"}))
	},
}

func failed(err error) (string, error) {
	if err == nil {
		return "", errors.New("the request did not fail")
	}
	return err.Error(), nil
}

// awaitFeatures waits until the caller cs sees the upstream's tool,
// prompt and resource.
func awaitFeatures(t *testing.T, cs *mcp.ClientSession) {
	t.Helper()
	ctx := context.Background()
	waitFor(t, "the upstream's tool, prompt and resource", func() bool {
		pl, err := cs.ListPrompts(ctx, nil)
		rl, err2 := cs.ListResources(ctx, nil)
		return err == nil && err2 == nil && len(pl.Prompts) == 1 && len(rl.Resources) == 1 &&
			slices.Contains(toolNames(t, cs), "echo")
	})
}

// resultOf returns the record of the result of the last request for
// method: tool.result for a tool call, feature.result otherwise.
func resultOf(events []audit.Event, method string) *audit.Event {
	var last *audit.Event
	for _, ev := range events {
		switch {
		case method == "tools/call" && ev.Type == audit.ToolResult,
			ev.Type == audit.FeatureResult && ev.Detail["method"] == method:
			last = &ev
		}
	}
	return last
}

// TestUpstreamSessionIDNotRecorded: an HTTP upstream that answers a
// request with another session ID than the one of its session with the
// gateway fails the request, and the SDK's error quotes both IDs
// ("mismatching session IDs %q and %q"). The first is the gateway's
// session with the upstream, all an upstream without credentials of its
// own knows the gateway by. The trail's record of the failure, for a tool
// call, a prompt, a resource, a completion or a subscription, and the
// gateway's log keep why it failed, with neither ID. Before, both held
// them whole.
func TestUpstreamSessionIDNotRecorded(t *testing.T) {
	const rotated = "rotated-8f2c41d9e07b4a6c"
	for method, request := range featureRequests {
		t.Run(method, func(t *testing.T) {
			up := featureServer(nil)
			h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return up }, nil)
			var sessions collected // every session ID the gateway sent
			us := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if id := r.Header.Get("Mcp-Session-Id"); id != "" {
					sessions.add(id)
				}
				body, _ := io.ReadAll(r.Body)
				r.Body = io.NopCloser(bytes.NewReader(body))
				if r.Method == http.MethodPost && bytes.Contains(body, []byte(`"method":"`+method+`"`)) {
					w.Header().Set("Mcp-Session-Id", rotated)
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(http.StatusOK)
					return
				}
				h.ServeHTTP(w, r)
			}))
			t.Cleanup(us.Close)
			logs := &lockedBuffer{mu: &sync.Mutex{}}
			e := newEnv(t, envOptions{logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
				tools:     []store.Tool{{Name: "echo", Upstream: "up", Roles: []string{"sales-manager"}}},
				upstreams: []store.Upstream{{Name: "up", URL: us.URL}}})
			cs := e.connect("alice", "acme-assistant", "2025-11-25")
			awaitFeatures(t, cs)
			if _, err := request(context.Background(), cs); err != nil {
				t.Fatal(err)
			}
			r := resultOf(e.mem.all(), method)
			if r == nil || r.Status != "error" {
				t.Fatalf("the result's record: %+v", r)
			}
			if msg, _ := r.Detail["error"].(string); !strings.Contains(msg, "mismatching session IDs") {
				t.Errorf("the record says %q, not why the request failed", msg)
			}
			if method == "tools/call" {
				waitFor(t, "the failure logged", func() bool { return strings.Contains(logs.String(), "tool call failed") })
			}
			ids := sessions.all()
			if len(ids) == 0 {
				t.Fatal("the gateway sent no session ID")
			}
			trail, _ := json.Marshal(e.mem.all())
			for _, id := range append(ids, rotated) {
				if bytes.Contains(trail, []byte(id)) {
					t.Errorf("the trail holds the session ID %q: %s", id, trail)
				}
				if strings.Contains(logs.String(), id) {
					t.Errorf("the log holds the session ID %q: %s", id, logs.String())
				}
			}
		})
	}
}

// TestUpstreamErrorCredentialsNotRecorded: an upstream whose own JSON-RPC
// error quotes the session it came on ("session … expired"), an
// Authorization header, a bearer token and a URL's key, for a tool call,
// a prompt, a resource, a completion or a subscription, has the trail
// keep its message with none of them; the caller, who never holds the
// gateway's session with the upstream, is not told them either. Before,
// the message went to both as it came.
func TestUpstreamErrorCredentialsNotRecorded(t *testing.T) {
	const (
		basic  = "Z2F0ZWhvdXNlOmh1bnRlcjI="
		bearer = "eyJhbGciOiJub25lIn0.e30.c2lnbmVk"
		key    = "k3y-0f-the-backend"
	)
	for method, request := range featureRequests {
		t.Run(method, func(t *testing.T) {
			var sessions collected // the upstream's sessions its errors named
			up := featureServer(func(ss *mcp.ServerSession) error {
				sessions.add(ss.ID())
				return &jsonrpc.Error{Code: jsonrpc.CodeInvalidRequest, Message: "session " + ss.ID() +
					" expired; sent Authorization: Basic " + basic + ", then Bearer " + bearer +
					"; see https://backend.internal/v1?api_key=" + key + "&page=2"}
			})
			logs := &lockedBuffer{mu: &sync.Mutex{}}
			o := serveUpstream(t, up, "echo")
			o.logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			e := newEnv(t, o)
			cs := e.connect("alice", "acme-assistant", "2025-11-25")
			awaitFeatures(t, cs)
			told, err := request(context.Background(), cs)
			if err != nil {
				t.Fatal(err)
			}
			r := resultOf(e.mem.all(), method)
			if r == nil || r.Status != "error" {
				t.Fatalf("the result's record: %+v", r)
			}
			msg, _ := r.Detail["error"].(string)
			if !strings.Contains(msg, "expired; sent Authorization: ") || !strings.Contains(msg, "https://backend.internal/v1?api_key=") || !strings.Contains(msg, "&page=2") {
				t.Errorf("the record says %q, not the upstream's reason", msg)
			}
			ids := sessions.all()
			if len(ids) == 0 {
				t.Fatal("the upstream was not asked")
			}
			trail, _ := json.Marshal(e.mem.all())
			for _, secret := range append(ids, basic, bearer, key) {
				if bytes.Contains(trail, []byte(secret)) {
					t.Errorf("the trail holds %q: %s", secret, msg)
				}
				if strings.Contains(logs.String(), secret) {
					t.Errorf("the log holds %q: %s", secret, logs.String())
				}
			}
			for _, id := range ids {
				if strings.Contains(told, id) {
					t.Errorf("the caller is told the gateway's session with the upstream: %s", told)
				}
			}
		})
	}
}

// trailResult returns the last record of a result in the durable trail
// of e: tool.result for method tools/call, feature.result otherwise (a
// record cut to {truncated, size} no longer names its method).
func trailResult(t *testing.T, e *env, method string) *audit.Event {
	t.Helper()
	typ := audit.FeatureResult
	if method == "tools/call" {
		typ = audit.ToolResult
	}
	page, err := e.audit.(*audit.Log).Query(context.Background(), audit.Filter{Types: []string{typ}, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Entries) == 0 {
		return nil
	}
	return &page.Entries[len(page.Entries)-1].Event
}

// checkCutShort fails t unless r, the record of a failure, keeps why, a
// reason of n bytes, cut short: its start, and its length.
func checkCutShort(t *testing.T, r *audit.Event, why string, n int) {
	t.Helper()
	if r == nil {
		t.Fatal("no record of the result")
	}
	msg, _ := r.Detail["error"].(string)
	if !strings.Contains(msg, why) || len(msg) > 2<<10+len("…") {
		t.Errorf("the record keeps %d bytes of error (%.120q), want the start of the reason %q, cut short: %+v", len(msg), msg, why, r.Detail)
	}
	if got, _ := r.Detail["error_bytes"].(float64); int(got) < n {
		t.Errorf("the record says the error had %v bytes, want at least %d", r.Detail["error_bytes"], n)
	}
}

// TestUpstreamErrorRecordBounded: an upstream that fails a request with
// an error of a megabyte (its own JSON-RPC error, or a header the SDK's
// error quotes) has the trail's record of the failure keep the start of
// the reason, cut short, with its length: before, the record was past the
// trail's size bound and kept nothing but {truncated, size}, the reason
// lost.
func TestUpstreamErrorRecordBounded(t *testing.T) {
	const why = "the backend is down: "
	huge := strings.Repeat("x", 1<<20)
	for method, request := range featureRequests {
		t.Run(method, func(t *testing.T) {
			up := featureServer(func(*mcp.ServerSession) error {
				return &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: why + huge}
			})
			o := serveUpstream(t, up, "echo")
			o.realAudit = true
			e := newEnv(t, o)
			cs := e.connect("alice", "acme-assistant", "2025-11-25")
			awaitFeatures(t, cs)
			if _, err := request(context.Background(), cs); err != nil {
				t.Fatal(err)
			}
			checkCutShort(t, trailResult(t, e, method), why, len(why+huge))
		})
	}
	t.Run("transport", func(t *testing.T) {
		up := featureServer(nil)
		h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return up }, nil)
		us := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			if bytes.Contains(body, []byte(`"tools/call"`)) {
				w.Header().Set("Content-Type", "x/"+huge)
				w.WriteHeader(http.StatusOK)
				return
			}
			h.ServeHTTP(w, r)
		}))
		t.Cleanup(us.Close)
		e := newEnv(t, envOptions{realAudit: true,
			tools:     []store.Tool{{Name: "echo", Upstream: "up", Roles: []string{"sales-manager"}}},
			upstreams: []store.Upstream{{Name: "up", URL: us.URL}}})
		cs := e.connect("alice", "acme-assistant", "2025-11-25")
		awaitFeatures(t, cs)
		if _, err := featureRequests["tools/call"](context.Background(), cs); err != nil {
			t.Fatal(err)
		}
		checkCutShort(t, trailResult(t, e, "tools/call"), "unsupported content type", len(huge))
	})
}

// TestHTTPToolErrorRecordBounded: an HTTP API tool whose API answers with
// a status line of half a megabyte fails the call with the HTTP client's
// error quoting it; the trail's record of the result keeps the start of
// that error and the state of the call's slip. Before, the record was
// past the trail's size bound and kept neither: not even whether the API
// had taken the slip.
func TestHTTPToolErrorRecordBounded(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				if _, err := http.ReadRequest(bufio.NewReader(conn)); err != nil {
					return
				}
				io.WriteString(conn, "HTTP/1.1 2"+strings.Repeat("0", 512<<10)+" OK\r\nContent-Length: 0\r\n\r\n")
			}()
		}
	}()
	e := newEnv(t, envOptions{realAudit: true, tools: []store.Tool{{Name: "refund", Roles: []string{"support"},
		HTTP: &store.HTTPBackend{Method: "POST", URL: "http://" + l.Addr().String() + "/refund"}}}})
	cs := e.connect("carol", "acme-assistant", "2025-11-25")
	if res := call(t, cs, "refund", map[string]any{"amount": 5}); !res.IsError {
		t.Fatalf("the call did not fail: %s", text(res))
	}
	r := trailResult(t, e, "tools/call")
	checkCutShort(t, r, "malformed HTTP", 512<<10)
	if r.Detail["slip"] != "voided" {
		t.Errorf("the record's slip state is %v, want voided: %+v", r.Detail["slip"], r.Detail)
	}
}
