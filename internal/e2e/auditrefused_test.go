package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/cli"
	"github.com/gatehouse/gatehouse/internal/e2e"
	"github.com/gatehouse/gatehouse/internal/server"
	"github.com/gatehouse/gatehouse/internal/store/sqlite"
)

// lockedBuffer is a log sink the server writes to from many goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestAuditRefusedRunsNothingAndRecovers: while the SQLite store refuses
// every audit append (as a full disk makes it: here a trigger, so that it
// happens on every connection and ends when dropped), a running server
// carries out no tool call: each is refused at once with the polite
// message, its backend never called; a sign-in gets no token; the log
// says why under each request's ID, and /metrics counts the failed
// records. Once the store takes writes again the same server, not
// restarted, serves calls and sign-ins, and the trail verifies with every
// acknowledged call's decision and result in it.
func TestAuditRefusedRunsNothingAndRecovers(t *testing.T) {
	var hits atomic.Int32
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"refunded":3}`)
	}))
	t.Cleanup(api.Close)
	logs := &lockedBuffer{}
	mln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := e2e.Start(t, `
tenant: acme
roles:
  - name: support
users:
  - username: carol
    email: carol@acme.example
    password: carol-e2e-password
    roles: [support]
  - username: dave
    email: dave@acme.example
    password: dave-e2e-password
    roles: [support]
clients:
  - client_id: billing-api
    kind: service
    secret: "`+httpToolSecret+`"
tools:
  - name: refund
    http: {method: POST, url: "`+api.URL+`/refund", client_id: billing-api}
    input_schema: {type: object, properties: {amount: {type: number}}, required: [amount]}
    roles: [support]
`, &e2e.Options{Tweak: func(o *server.Options) {
		o.Logger = slog.New(slog.NewJSONHandler(logs, nil))
		o.MetricsListener = mln
	}})
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	token := mcpToken(t, g, "carol", "carol-e2e-password")
	cs := mcpConnect(ctx, t, g, "gatehouse-e2e-audit-refused", token)
	t.Cleanup(func() { cs.Close() })
	acked := 0
	refund := func() (string, error) {
		cctx, ccancel := context.WithTimeout(ctx, 10*time.Second) // refused at once, not hung
		defer ccancel()
		res, err := cs.CallTool(cctx, &mcp.CallToolParams{Name: "refund", Arguments: map[string]any{"amount": 3}})
		if err != nil {
			return "", err
		}
		if res.IsError {
			t.Fatalf("refund answered an error result: %s", mcpText(res))
		}
		acked++
		return mcpText(res), nil
	}
	if _, err := refund(); err != nil || hits.Load() != 1 {
		t.Fatalf("refund before: %v, backend called %d times", err, hits.Load())
	}

	// A second connection to the same database file, as an operator's
	// tool would open it, makes every append to the trail fail.
	db, err := sqlite.Open(ctx, g.Data, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.SQL().ExecContext(ctx, `CREATE TRIGGER audit_refused BEFORE INSERT ON audit_log
		BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END`); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		_, err := refund()
		if err == nil || !strings.Contains(err.Error(), "could not be recorded in the audit trail, so it was not carried out") {
			t.Fatalf("refund %d while the trail refuses appends: %v, want the polite refusal", i, err)
		}
		if strings.Contains(err.Error(), "disk is full") || strings.Contains(err.Error(), "audit_log") {
			t.Errorf("the caller is told the store's error: %v", err)
		}
	}
	if n := hits.Load(); n != 1 {
		t.Fatalf("the backend was called %d times, want once: calls ran that the trail did not take", n)
	}
	if tok, err := tryToken(ctx, g, "dave", "dave-e2e-password"); err == nil || tok != "" {
		t.Errorf("a sign-in while the trail refuses appends got a token (%v): it is not in the trail", err)
	}
	resp, err := http.Get("http://" + mln.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(metrics), "gatehouse_audit_failed_records_total ") || strings.Contains(string(metrics), "gatehouse_audit_failed_records_total 0\n") {
		t.Errorf("/metrics does not count the failed records:\n%s", grepLines(string(metrics), "gatehouse_audit_"))
	}
	refused := 0
	for _, line := range strings.Split(logs.String(), "\n") {
		if !strings.Contains(line, "the audit trail refused a record") {
			continue
		}
		refused++
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		if rec["request_id"] == nil {
			t.Errorf("a refused record is logged without its request's ID: %s", line)
		}
	}
	if refused < 5 {
		t.Errorf("%d refused records logged, want one for each refused call:\n%s", refused, logs.String())
	}
	for _, secret := range []string{token, "carol-e2e-password", "dave-e2e-password", httpToolSecret} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the log holds a secret")
		}
	}

	// The store takes writes again: the same server serves again.
	if _, err := db.SQL().ExecContext(ctx, `DROP TRIGGER audit_refused`); err != nil {
		t.Fatal(err)
	}
	if _, err := refund(); err != nil || hits.Load() != 2 {
		t.Fatalf("refund once the trail takes appends again: %v, backend called %d times", err, hits.Load())
	}
	if tok, err := tryToken(ctx, g, "dave", "dave-e2e-password"); err != nil || tok == "" {
		t.Fatalf("sign-in once the trail takes appends again: %v", err)
	}
	db.Close()
	if err := g.Stop(); err != nil {
		t.Fatal(err)
	}
	g.Server.Close()

	var out, stderr bytes.Buffer
	env := &cli.Env{Stdout: &out, Stderr: &stderr, Stdin: strings.NewReader(""), Getenv: func(string) string { return "" }}
	if code := cli.Run(env, []string{"audit", "verify", "--data", g.Data}); code != 0 {
		t.Fatalf("audit verify: %d %s %s", code, out.String(), stderr.String())
	}
	out.Reset()
	if code := cli.Run(env, []string{"audit", "export", "--tool", "refund", "--data", g.Data}); code != 0 {
		t.Fatalf("audit export: %d %s", code, stderr.String())
	}
	count := map[string]int{}
	for line := range strings.Lines(out.String()) {
		var rec audit.Entry
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		count[rec.Event.Type+" "+rec.Event.Decision]++
	}
	if count[audit.ToolDecided+" allow"] != acked || count[audit.ToolResult+" "] != acked {
		t.Errorf("the trail holds %v, want the decision and the result of each of the %d acknowledged calls, and nothing of the refused ones", count, acked)
	}
	if acked != 2 {
		t.Errorf("%d calls acknowledged, want 2", acked)
	}
}

// grepLines keeps the lines of s that hold sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
