package e2e_test

// TestCrashKeepsEveryAcknowledgedCall: the gatehouse binary serves a tenant
// whose HTTP tool answers at once; 16 MCP clients (the official Go SDK)
// call it with arguments that name each call; the server is killed
// (SIGKILL) while calls are in flight. Every call whose result came back
// must be in the audit trail afterwards — its allow decision and its
// result, found by the digest of its arguments — and `gatehouse audit
// verify` must pass, before and after a restart on the same data folder.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/e2e"
	"github.com/gatehouse/gatehouse/slipverify"
)

const (
	crashWorkers  = 16
	crashLoad     = 3 * time.Second
	crashPassword = "crash-e2e-password"
)

// crashServer is a gatehouse serve process of the test.
type crashServer struct {
	cmd  *exec.Cmd
	done chan error
	URL  string
	log  string // its stderr
}

// crashEnv is the environment of the binary, without GATEHOUSE_ variables
// that could change its flags.
func crashEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GATEHOUSE_") {
			env = append(env, kv)
		}
	}
	return env
}

// crashRun runs the binary to its end and returns its exit code and output.
func crashRun(ctx context.Context, t *testing.T, bin string, args ...string) (int, []byte, []byte) {
	t.Helper()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = crashEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, stdout.Bytes(), stderr.Bytes()
	case errors.As(err, &ee):
		return ee.ExitCode(), stdout.Bytes(), stderr.Bytes()
	}
	t.Fatalf("gatehouse %s: %v", strings.Join(args, " "), err)
	return 0, nil, nil
}

// crashStart starts `gatehouse serve` on addr and waits until it is ready.
func crashStart(ctx context.Context, t *testing.T, bin, data, tenant, addr, logName string) *crashServer {
	t.Helper()
	logPath := filepath.Join(filepath.Dir(data), logName)
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd := exec.Command(bin, "serve", "--data", data, "--tenant", tenant, "--addr", addr, "--log-level", "warn")
	cmd.Env = crashEnv()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &crashServer{cmd: cmd, done: make(chan error, 1), URL: "http://" + addr, log: logPath}
	go func() { s.done <- cmd.Wait() }()
	t.Cleanup(func() { s.kill() })
	for {
		select {
		case err := <-s.done:
			s.done <- err
			b, _ := os.ReadFile(logPath)
			t.Fatalf("gatehouse serve stopped before it was ready: %v\n%s", err, b)
		case <-ctx.Done():
			t.Fatalf("gatehouse serve not ready in time")
		case <-time.After(50 * time.Millisecond):
		}
		resp, err := http.Get(s.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
	}
}

// kill sends SIGKILL (to this process only) and waits for it to end.
func (s *crashServer) kill() {
	if s.cmd.ProcessState == nil {
		s.cmd.Process.Kill()
	}
	s.wait(10 * time.Second)
}

// stop asks the process to shut down (SIGTERM) and waits for it.
func (s *crashServer) stop(t *testing.T) {
	t.Helper()
	s.cmd.Process.Signal(syscall.SIGTERM)
	if ok, err := s.wait(15 * time.Second); !ok || err != nil {
		b, _ := os.ReadFile(s.log)
		t.Errorf("gatehouse serve after SIGTERM: exited=%v err=%v\n%s", ok, err, b)
	}
}

// wait reports whether the process ended within d, and how.
func (s *crashServer) wait(d time.Duration) (bool, error) {
	select {
	case err := <-s.done:
		s.done <- err
		return true, err
	case <-time.After(d):
		return false, nil
	}
}

// crashAck is a call whose successful result came back.
type crashAck struct {
	worker, n int
	digest    string
}

func TestCrashKeepsEveryAcknowledgedCall(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the gatehouse binary")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 58*time.Second)
	defer cancel()
	began := time.Now()

	dir := t.TempDir()
	bin := filepath.Join(dir, "gatehouse")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/gatehouse")
	build.Dir = filepath.Dir(e2e.InteropDir(t))
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/gatehouse: %v\n%s", err, out)
	}
	t.Logf("built the binary in %v", time.Since(began).Round(time.Millisecond))

	// The HTTP tool answers at once with what it got.
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<16))
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"ok":true,"args":%s}`, body)
	}))
	defer backend.Close()
	tenant := filepath.Join(dir, "tenant.yaml")
	if err := os.WriteFile(tenant, fmt.Appendf(nil, `
tenant: acme
roles:
  - name: clerk
users:
  - username: alice
    email: alice@acme.example
    password: %q
    roles: [clerk]
clients:
  - client_id: echo-api
    kind: service
    secret: "echo-api-secret-0123456789abcdef"
tools:
  - name: echo
    description: Answers with its arguments
    http: {method: POST, url: %q, client_id: echo-api}
    roles: [clerk]
`, crashPassword, backend.URL), 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")

	// The restart listens on the same address: the issuer, and so the
	// token's issuer and audience, stay the same.
	addr := fmt.Sprintf("127.0.0.1:%d", mcpFreePort(t))
	srv := crashStart(ctx, t, bin, data, tenant, addr, "serve-1.log")
	token := mcpToken(t, &e2e.Gatehouse{URL: srv.URL}, "alice", crashPassword)

	// The load: 16 clients, each its own MCP session, calling echo with
	// arguments no other call has.
	transport := &http.Transport{MaxIdleConnsPerHost: crashWorkers * 2, DisableCompression: true}
	defer transport.CloseIdleConnections()
	var (
		mu        sync.Mutex
		acks      []crashAck
		preErrs   []string // failures before the kill
		killed    atomic.Bool
		inFlight  atomic.Int64
		postErrs  atomic.Int64
		toolErrs  atomic.Int64
		wg        sync.WaitGroup
		connected sync.WaitGroup
	)
	loadCtx, stopLoad := context.WithTimeout(ctx, 30*time.Second)
	defer stopLoad()
	connected.Add(crashWorkers)
	for w := range crashWorkers {
		wg.Go(func() {
			cs, err := secMCP(loadCtx, srv.URL+"/mcp", token, transport)
			connected.Done()
			if err != nil {
				mu.Lock()
				preErrs = append(preErrs, fmt.Sprintf("worker %d: connect: %v", w, err))
				mu.Unlock()
				return
			}
			defer cs.Close()
			for n := 0; loadCtx.Err() == nil; n++ {
				args := fmt.Sprintf(`{"worker":%d,"n":%d,"note":"crash test call w%d-%d"}`, w, n, w, n)
				callCtx, cancelCall := context.WithTimeout(loadCtx, 10*time.Second)
				inFlight.Add(1)
				res, err := cs.CallTool(callCtx, &mcp.CallToolParams{Name: "echo", Arguments: json.RawMessage(args)})
				inFlight.Add(-1)
				cancelCall()
				switch {
				case err != nil && killed.Load():
					postErrs.Add(1)
					return
				case err != nil:
					mu.Lock()
					preErrs = append(preErrs, fmt.Sprintf("worker %d call %d: %v", w, n, err))
					mu.Unlock()
					return
				case res.IsError:
					toolErrs.Add(1)
					if !killed.Load() {
						mu.Lock()
						preErrs = append(preErrs, fmt.Sprintf("worker %d call %d: tool error %.200s", w, n, mcpText(res)))
						mu.Unlock()
					}
					continue
				}
				digest, err := slipverify.ArgsDigest([]byte(args))
				if err != nil {
					panic(err) // our own JSON
				}
				mu.Lock()
				acks = append(acks, crashAck{worker: w, n: n, digest: digest})
				mu.Unlock()
			}
		})
	}
	connected.Wait()
	select {
	case <-time.After(crashLoad):
	case <-ctx.Done():
	}
	mu.Lock()
	ackedBeforeKill := len(acks)
	mu.Unlock()
	flying := inFlight.Load()
	killed.Store(true)
	if err := srv.cmd.Process.Kill(); err != nil { // SIGKILL, mid-load
		t.Fatal(err)
	}
	if ok, _ := srv.wait(10 * time.Second); !ok {
		t.Fatal("the server did not die of SIGKILL")
	}
	stopLoad() // the clients give up on what is left
	waited := make(chan struct{})
	go func() { wg.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(15 * time.Second):
		t.Fatal("the MCP clients did not return after the kill")
	}
	mu.Lock()
	acked := append([]crashAck(nil), acks...)
	pre := preErrs
	mu.Unlock()
	t.Logf("load %v: %d calls acknowledged (%d when SIGKILL was sent, %d in flight then), %d failed after the kill, %d tool errors",
		crashLoad, len(acked), ackedBeforeKill, flying, postErrs.Load(), toolErrs.Load())
	for i, e := range pre {
		if i == 10 {
			t.Errorf("… and %d more failures before the kill", len(pre)-10)
			break
		}
		t.Errorf("before the kill: %s", e)
	}
	if len(acked) < 100 {
		t.Errorf("only %d calls acknowledged in %v: not a load", len(acked), crashLoad)
	}
	if flying == 0 {
		t.Errorf("no call was in flight when the server was killed")
	}

	// The crashed store verifies as it is.
	if code, out, errOut := crashRun(ctx, t, bin, "audit", "verify", "--data", data); code != 0 {
		t.Errorf("gatehouse audit verify after the kill: exit %d\n%s%s", code, out, errOut)
	} else {
		t.Logf("audit verify after the kill: %s", bytes.TrimSpace(out))
	}

	// A restart on the same data folder serves, with the same token.
	srv2 := crashStart(ctx, t, bin, data, tenant, addr, "serve-2.log")
	cs, err := secMCP(ctx, srv2.URL+"/mcp", token, nil)
	if err != nil {
		t.Fatalf("MCP after the restart: %v", err)
	}
	after := `{"after":"restart"}`
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: json.RawMessage(after)})
	if err != nil || res.IsError {
		t.Fatalf("a call after the restart: %v %+v", err, res)
	}
	cs.Close()
	afterDigest, _ := slipverify.ArgsDigest([]byte(after))
	acked = append(acked, crashAck{worker: -1, n: 0, digest: afterDigest})
	srv2.stop(t)

	if code, out, errOut := crashRun(ctx, t, bin, "audit", "verify", "--data", data); code != 0 {
		t.Errorf("gatehouse audit verify after the restart: exit %d\n%s%s", code, out, errOut)
	}
	code, export, errOut := crashRun(ctx, t, bin, "audit", "export", "--data", data)
	if code != 0 {
		t.Fatalf("gatehouse audit export: exit %d\n%s", code, errOut)
	}

	// Every acknowledged call: an allow decision and an ok result.
	type trail struct {
		allow   int
		results []string
	}
	byDigest := map[string]*trail{}
	records := 0
	sc := bufio.NewScanner(bytes.NewReader(export))
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		var e audit.Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("audit export line %d: %v", records+1, err)
		}
		records++
		ev := e.Event
		if ev.Tool != "echo" || ev.ArgsDigest == "" {
			continue
		}
		tr := byDigest[ev.ArgsDigest]
		if tr == nil {
			tr = &trail{}
			byDigest[ev.ArgsDigest] = tr
		}
		switch {
		case ev.Type == audit.ToolDecided && ev.Decision == "allow":
			tr.allow++
		case ev.Type == audit.ToolResult:
			tr.results = append(tr.results, ev.Status)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	missing := 0
	for _, a := range acked {
		tr := byDigest[a.digest]
		var why string
		switch {
		case tr == nil:
			why = "no record at all"
		case tr.allow != 1:
			why = fmt.Sprintf("%d allow decisions, want 1", tr.allow)
		case len(tr.results) != 1 || tr.results[0] != "ok":
			why = fmt.Sprintf("results %v, want [ok]", tr.results)
		default:
			continue
		}
		missing++
		if missing <= 10 {
			t.Errorf("LOST: acknowledged call w%d-%d (args digest %.12s…): %s", a.worker, a.n, a.digest, why)
		}
	}
	unfinished := 0
	for _, tr := range byDigest {
		if tr.allow > 0 && len(tr.results) == 0 {
			unfinished++
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d acknowledged calls are not fully in the audit trail after the crash", missing, len(acked))
	}
	t.Logf("checked %d acknowledged calls (%d before the kill + 1 after the restart) against %d audit records: %d missing; "+
		"%d calls were allowed but never finished (in flight at the kill); whole test %v",
		len(acked), len(acked)-1, records, missing, unfinished, time.Since(began).Round(time.Millisecond))
}
