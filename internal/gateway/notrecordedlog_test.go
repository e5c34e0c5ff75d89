package gateway_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/store"
)

// TestRefusedRecordLoggedOnce: a request refused because the trail
// refused its record is one ERROR line in the log (the trail's writer and
// the gateway share the server's logger), naming the cause (the store's
// error), under the request's ID, and with neither the caller's token nor
// a value it sent: whether the record refused came before the tool or
// upstream ran or after, and for the 403 that asks for a wider scope.
func TestRefusedRecordLoggedOnce(t *testing.T) {
	const secret = "s3cret-arg-value"
	var mu sync.Mutex
	var lines []string
	logger := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		lines = append(lines, strings.TrimSpace(string(p)))
		return len(p), nil
	}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	take := func() []string {
		mu.Lock()
		defer mu.Unlock()
		out := lines
		lines = nil
		return out
	}
	up := featureUpstream(func(string) {})
	us := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return up }, nil))
	t.Cleanup(us.Close)
	e := newEnv(t, envOptions{
		tools:     []store.Tool{{Name: "echo", Upstream: "up", Roles: []string{"sales-manager"}}},
		upstreams: []store.Upstream{{Name: "up", URL: us.URL}},
		realAudit: true,
		logger:    logger,
	})
	ctx := context.Background()
	token := e.token("alice", "acme-assistant")
	alice := e.connectToken(token, "2025-11-25", nil)
	waitFor(t, "the upstream's prompt", func() bool {
		pl, err := alice.ListPrompts(ctx, nil)
		return err == nil && len(pl.Prompts) == 1
	})
	narrow := narrowedFrank(t, e)
	const version = "2025-03-26"
	session := rawSession(t, e, narrow, version)

	for _, tt := range []struct {
		what, refused string // the record type the trail refuses
		send          func() error
	}{
		{"a tools/call refused before it ran", audit.ToolDecided, func() error {
			_, err := alice.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": secret}})
			return err
		}},
		{"a tools/call whose result was refused", audit.ToolResult, func() error {
			_, err := alice.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": secret}})
			return err
		}},
		{"a prompts/get refused before the upstream saw it", audit.FeatureDecided, func() error {
			_, err := alice.GetPrompt(ctx, &mcp.GetPromptParams{Name: "greet", Arguments: map[string]string{"name": secret}})
			return err
		}},
		{"a prompts/get whose result was refused", audit.FeatureResult, func() error {
			_, err := alice.GetPrompt(ctx, &mcp.GetPromptParams{Name: "greet", Arguments: map[string]string{"name": secret}})
			return err
		}},
		{"a tools/call out of the token's scope", audit.ToolDecided, func() error {
			resp, body := e.rawMCP(t, narrow, session, version,
				`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"`+secret+`"}}}`)
			if resp.StatusCode != http.StatusServiceUnavailable {
				t.Errorf("out of scope, its refusal not recorded: %d %s, want 503", resp.StatusCode, body)
			}
			return nil
		}},
	} {
		t.Run(tt.what, func(t *testing.T) {
			if _, err := e.st.SQL().Exec(`CREATE TRIGGER refuse BEFORE INSERT ON audit_log WHEN NEW.type = '` + tt.refused + `'
				BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END`); err != nil {
				t.Fatal(err)
			}
			defer func() {
				if _, err := e.st.SQL().Exec(`DROP TRIGGER refuse`); err != nil {
					t.Fatal(err)
				}
			}()
			take()
			if err := tt.send(); err != nil && !strings.Contains(err.Error(), "could not be recorded in the audit trail") {
				t.Errorf("%s: told %v", tt.what, err)
			}
			var errs []string
			for _, l := range take() {
				if strings.Contains(l, token) || strings.Contains(l, narrow) || strings.Contains(l, secret) {
					t.Errorf("%s: the log holds a secret: %s", tt.what, l)
				}
				if strings.Contains(l, "level=ERROR") {
					errs = append(errs, l)
				}
			}
			if len(errs) != 1 {
				t.Fatalf("%s: %d ERROR lines, want one:\n%s", tt.what, len(errs), strings.Join(errs, "\n"))
			}
			if !strings.Contains(errs[0], "disk is full") {
				t.Errorf("%s: the ERROR line does not name the cause: %s", tt.what, errs[0])
			}
		})
	}
}

// stallingRecorder holds a tool call's refusal until the caller's
// request ends, then fails as the trail's durable wait does.
type stallingRecorder struct {
	audit.Recorder
	held chan struct{} // closed when a decision is held
}

func (r stallingRecorder) Record(ctx context.Context, ev audit.Event) error {
	if ev.Type != audit.ToolDecided || ev.Decision != "deny" {
		return r.Recorder.Record(ctx, ev)
	}
	close(r.held)
	<-ctx.Done()
	return fmt.Errorf("audit record not confirmed: %w", ctx.Err())
}

// TestCallerGoneIsNotAnError: a caller that hangs up while its call's
// refusal is being confirmed is no failure of the trail's: the log says
// the caller went away, at the information level, and no ERROR line
// claims the trail refused a record.
func TestCallerGoneIsNotAnError(t *testing.T) {
	var mu sync.Mutex
	var logs strings.Builder
	logger := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), nil))
	held := make(chan struct{})
	e := newEnv(t, envOptions{
		logger:   logger,
		recorder: func(r audit.Recorder) audit.Recorder { return stallingRecorder{Recorder: r, held: held} },
	})
	alice := e.connect("alice", "acme-assistant", "")
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-held
		cancel()
	}()
	if _, err := alice.CallTool(ctx, &mcp.CallToolParams{Name: "payroll_report", Arguments: map[string]any{}}); err == nil {
		t.Fatal("a call whose caller hung up was answered")
	}
	waitFor(t, "the gateway's line", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return strings.Contains(logs.String(), "went away")
	})
	mu.Lock()
	defer mu.Unlock()
	if got := logs.String(); strings.Contains(got, "level=ERROR") || !strings.Contains(got, "level=INFO") {
		t.Errorf("a caller gone logged as:\n%s", got)
	}
}
