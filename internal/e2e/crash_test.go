package e2e_test

// The crash tests: the gatehouse binary serves a tenant whose HTTP tool
// answers at once; 16 MCP clients (the official Go SDK) call it with
// arguments that name each call; a server is killed (SIGKILL) while calls
// are in flight. Every call whose result came back must be in the audit
// trail afterwards — its allow decision and its result, found by the
// digest of its arguments — and `gatehouse audit verify` must pass, before
// and after a restart on the same store. They run on SQLite, on
// PostgreSQL, and on two replicas sharing one PostgreSQL database, one of
// which is killed while the other keeps serving: one chain either way.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
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
	"github.com/gatehouse/gatehouse/internal/store/storetest"
	"github.com/gatehouse/gatehouse/slipverify"
)

const (
	crashWorkers  = 16
	crashLoad     = 3 * time.Second
	crashPassword = "crash-e2e-password"
	// crashAfterKill is how many calls the surviving replica must
	// acknowledge after the other one was killed: appends that follow
	// the dead replica's last, on the same chain.
	crashAfterKill = 100
)

// crashServer is a gatehouse serve process of the test.
type crashServer struct {
	cmd  *exec.Cmd
	done chan error
	URL  string
	addr string
	log  string // its stderr
}

// crashRig is what a crash test's processes share: the binary, the
// tenant file, the store they all open and the issuer they all serve.
type crashRig struct {
	bin, dir, tenant string
	issuer           string
	store            []string // the flags naming the store
	env              []string // the environment of every run
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

// newCrashRig builds the binary and writes the tenant, whose HTTP tool
// answers at once with what it got. store gives the flags naming the store
// and the variables to add to the environment, given the test's folder.
func newCrashRig(ctx context.Context, t *testing.T, store func(dir string) (flags, env []string)) *crashRig {
	t.Helper()
	began := time.Now()
	dir := t.TempDir()
	r := &crashRig{bin: filepath.Join(dir, "gatehouse"), dir: dir, tenant: filepath.Join(dir, "tenant.yaml")}
	build := exec.CommandContext(ctx, "go", "build", "-o", r.bin, "./cmd/gatehouse")
	build.Dir = filepath.Dir(e2e.InteropDir(t))
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/gatehouse: %v\n%s", err, out)
	}
	t.Logf("built the binary in %v", time.Since(began).Round(time.Millisecond))

	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<16))
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"ok":true,"args":%s}`, body)
	}))
	t.Cleanup(backend.Close)
	if err := os.WriteFile(r.tenant, fmt.Appendf(nil, `
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
	var env []string
	r.store, env = store(dir)
	r.env = append(crashEnv(), env...)
	return r
}

// crashOnPostgres names a fresh schema of the database in
// GATEHOUSE_TEST_POSTGRES, and a master key all the processes share, as
// replicas on several machines would: each has its own data folder.
func crashOnPostgres(t *testing.T) func(dir string) ([]string, []string) {
	e2e.Require(t, os.Getenv("GATEHOUSE_TEST_POSTGRES") != "", "PostgreSQL", "GATEHOUSE_TEST_POSTGRES is not set")
	url := storetest.PostgresSchema(t)
	key := make([]byte, 32)
	rand.Read(key)
	return func(dir string) ([]string, []string) {
		return []string{"--database", url, "--data", filepath.Join(dir, "data")},
			[]string{"GATEHOUSE_MASTER_KEY=" + base64.StdEncoding.EncodeToString(key)}
	}
}

// run runs the binary on the rig's store to its end and returns its exit
// code and output.
func (r *crashRig) run(ctx context.Context, t *testing.T, args ...string) (int, []byte, []byte) {
	t.Helper()
	cmd := exec.CommandContext(ctx, r.bin, append(args, r.store...)...)
	cmd.Env = r.env
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

// start starts `gatehouse serve` on addr and waits until it is ready.
func (r *crashRig) start(ctx context.Context, t *testing.T, addr, logName string) *crashServer {
	t.Helper()
	logPath := filepath.Join(r.dir, logName)
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	args := append([]string{"serve", "--tenant", r.tenant, "--addr", addr, "--issuer", r.issuer, "--log-level", "warn"}, r.store...)
	cmd := exec.Command(r.bin, args...)
	cmd.Env = r.env
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &crashServer{cmd: cmd, done: make(chan error, 1), URL: "http://" + addr, addr: addr, log: logPath}
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

// crashFront sends requests with the issuer's Host, as the load balancer
// in front of the replicas does: /mcp serves no other host.
type crashFront struct {
	host string
	base http.RoundTripper
}

func (f crashFront) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Host = f.host
	return f.base.RoundTrip(r)
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
	crashTest(t, 1, func(dir string) ([]string, []string) {
		return []string{"--data", filepath.Join(dir, "data")}, nil
	})
}

func TestCrashKeepsEveryAcknowledgedCallOnPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the gatehouse binary")
	}
	crashTest(t, 1, crashOnPostgres(t))
}

// TestCrashOfOneReplicaKeepsEveryAcknowledgedCall: two replicas on one
// PostgreSQL database, half the clients on each; one is killed while the
// other keeps serving. The calls both acknowledged are all in the one
// chain, which verifies, and still does once the killed one is back.
func TestCrashOfOneReplicaKeepsEveryAcknowledgedCall(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the gatehouse binary")
	}
	crashTest(t, 2, crashOnPostgres(t))
}

// crashTest runs the crash test with that many replicas serving the store
// that store names; the first is the one killed.
func crashTest(t *testing.T, replicas int, store func(dir string) ([]string, []string)) {
	ctx, cancel := context.WithTimeout(t.Context(), 58*time.Second)
	defer cancel()
	began := time.Now()
	rig := newCrashRig(ctx, t, store)

	// Each replica listens on its own address and they all serve one
	// issuer, the first's; the restart listens on the same address as
	// the killed one. The issuer, and so the token's issuer and audience,
	// stay the same.
	addrs := make([]string, replicas)
	for i := range addrs {
		addrs[i] = fmt.Sprintf("127.0.0.1:%d", mcpFreePort(t))
	}
	rig.issuer = "http://" + addrs[0]
	servers := make([]*crashServer, replicas)
	for i, addr := range addrs {
		servers[i] = rig.start(ctx, t, addr, fmt.Sprintf("serve-%d.log", i+1))
	}
	token := mcpToken(t, &e2e.Gatehouse{URL: servers[0].URL}, "alice", crashPassword)

	acked := crashUnderLoad(ctx, t, servers, rig.issuer, token)

	// The crashed store verifies as it is (with the survivors still up).
	if code, out, errOut := rig.run(ctx, t, "audit", "verify"); code != 0 {
		t.Errorf("gatehouse audit verify after the kill: exit %d\n%s%s", code, out, errOut)
	} else {
		t.Logf("audit verify after the kill: %s", bytes.TrimSpace(out))
	}

	// A restart of the killed server serves, with the same token.
	servers[0] = rig.start(ctx, t, addrs[0], "serve-restart.log")
	cs, err := secMCP(ctx, servers[0].URL+"/mcp", token, nil)
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
	for _, s := range servers {
		s.stop(t)
	}

	if code, out, errOut := rig.run(ctx, t, "audit", "verify"); code != 0 {
		t.Errorf("gatehouse audit verify after the restart: exit %d\n%s%s", code, out, errOut)
	}
	code, export, errOut := rig.run(ctx, t, "audit", "export")
	if code != 0 {
		t.Fatalf("gatehouse audit export: exit %d\n%s", code, errOut)
	}
	records, missing, unfinished := crashCheckTrail(t, export, acked)
	t.Logf("checked %d acknowledged calls (%d under load + 1 after the restart) against %d audit records: %d missing; "+
		"%d calls were allowed but never finished (in flight at the kill); whole test %v",
		len(acked), len(acked)-1, records, missing, unfinished, time.Since(began).Round(time.Millisecond))
}

// crashUnderLoad has 16 clients, each its own MCP session on one of the
// servers in turn, call echo with arguments no other call has, kills the
// first server (SIGKILL) mid-load and returns the calls acknowledged. The
// kill is sent by the client that receives the first of the server's
// answers after crashLoad, as soon as it has it: a server that answered
// before its records were durable would lose the answered call's records
// then, not only when a kill at a random moment happens to fall between
// an answer and its commit. With more than one server, the others must keep
// serving, without a failure, until they have acknowledged crashAfterKill
// more calls.
func crashUnderLoad(ctx context.Context, t *testing.T, servers []*crashServer, issuer, token string) []crashAck {
	t.Helper()
	victim := servers[0]
	transport := &http.Transport{MaxIdleConnsPerHost: crashWorkers * 2, DisableCompression: true}
	defer transport.CloseIdleConnections()
	front := crashFront{host: strings.TrimPrefix(issuer, "http://"), base: transport}
	var (
		mu         sync.Mutex
		acks       []crashAck
		errs       []string // failures, but of the victim's clients after the kill
		killed     atomic.Bool
		inFlight   atomic.Int64 // calls in flight on the victim
		postErrs   atomic.Int64 // the victim's failures after the kill
		toolErrs   atomic.Int64
		survivorOK atomic.Int64 // the survivors' acknowledgements after the kill
		wg         sync.WaitGroup
		connected  sync.WaitGroup
		// armed: the load has run crashLoad, and the victim's next
		// answer kills it (kill, once).
		armed           atomic.Bool
		killOnce        sync.Once
		killSent        = make(chan struct{})
		killErr         error
		ackedBeforeKill int
		flying          int64 // calls in flight on the victim when it was killed
	)
	kill := func() {
		killOnce.Do(func() {
			killed.Store(true)
			flying = inFlight.Load()
			killErr = victim.cmd.Process.Kill() // SIGKILL, mid-load
			mu.Lock()
			ackedBeforeKill = len(acks)
			mu.Unlock()
			close(killSent)
		})
	}
	fail := func(format string, args ...any) {
		mu.Lock()
		errs = append(errs, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	loadCtx, stopLoad := context.WithTimeout(ctx, 30*time.Second)
	defer stopLoad()
	connected.Add(crashWorkers)
	for w := range crashWorkers {
		srv := servers[w%len(servers)]
		onVictim := srv == victim
		wg.Go(func() {
			cs, err := secMCP(loadCtx, srv.URL+"/mcp", token, front)
			connected.Done()
			if err != nil {
				fail("worker %d: connect to %s: %v", w, srv.addr, err)
				return
			}
			defer cs.Close()
			for n := 0; loadCtx.Err() == nil; n++ {
				args := fmt.Sprintf(`{"worker":%d,"n":%d,"note":"crash test call w%d-%d"}`, w, n, w, n)
				callCtx, cancelCall := context.WithTimeout(loadCtx, 10*time.Second)
				if onVictim {
					inFlight.Add(1)
				}
				res, err := cs.CallTool(callCtx, &mcp.CallToolParams{Name: "echo", Arguments: json.RawMessage(args)})
				if onVictim {
					inFlight.Add(-1)
				}
				cancelCall()
				switch {
				case err != nil && onVictim && killed.Load():
					postErrs.Add(1)
					return
				case err != nil && loadCtx.Err() != nil:
					return // the load is over
				case err != nil:
					fail("worker %d call %d on %s: %v", w, n, srv.addr, err)
					return
				case res.IsError:
					toolErrs.Add(1)
					if !onVictim || !killed.Load() {
						fail("worker %d call %d on %s: tool error %.200s", w, n, srv.addr, mcpText(res))
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
				if onVictim && armed.Load() {
					kill() // this call's answer is in acks: its records must be durable
				}
				if !onVictim && killed.Load() {
					survivorOK.Add(1)
				}
			}
		})
	}
	connected.Wait()
	select {
	case <-time.After(crashLoad):
	case <-ctx.Done():
	}
	armed.Store(true)
	select {
	case <-killSent:
	case <-time.After(5 * time.Second):
		t.Error("the server answered nothing for 5 s after the load's first period")
		kill()
	}
	if killErr != nil {
		t.Fatal(killErr)
	}
	if ok, _ := victim.wait(10 * time.Second); !ok {
		t.Fatal("the server did not die of SIGKILL")
	}
	if len(servers) > 1 {
		// The survivors go on appending to the chain the dead one left.
		for survivorOK.Load() < crashAfterKill && loadCtx.Err() == nil {
			select {
			case <-loadCtx.Done():
			case <-time.After(20 * time.Millisecond):
			}
		}
		if n := survivorOK.Load(); n < crashAfterKill {
			t.Errorf("the surviving replica acknowledged %d calls after the kill, want %d", n, crashAfterKill)
		}
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
	failures := errs
	mu.Unlock()
	t.Logf("load %v on %d server(s): %d calls acknowledged (%d when SIGKILL was sent, %d in flight on the killed one then, %d by the survivors after), "+
		"%d failed on the killed one after the kill, %d tool errors",
		crashLoad, len(servers), len(acked), ackedBeforeKill, flying, survivorOK.Load(), postErrs.Load(), toolErrs.Load())
	for i, e := range failures {
		if i == 10 {
			t.Errorf("… and %d more failures", len(failures)-10)
			break
		}
		t.Errorf("failure: %s", e)
	}
	if ackedBeforeKill < 100 {
		t.Errorf("only %d calls acknowledged in %v: not a load", ackedBeforeKill, crashLoad)
	}
	if flying == 0 {
		t.Errorf("no call was in flight when the server was killed")
	}
	return acked
}

// crashCheckTrail checks that every acknowledged call has, in the export,
// one allow decision and one ok result. It returns how many records the
// export holds, how many acknowledged calls it lacks and how many calls it
// has allowed but not finished.
func crashCheckTrail(t *testing.T, export []byte, acked []crashAck) (records, missing, unfinished int) {
	t.Helper()
	type trail struct {
		allow   int
		results []string
	}
	byDigest := map[string]*trail{}
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
	for _, tr := range byDigest {
		if tr.allow > 0 && len(tr.results) == 0 {
			unfinished++
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d acknowledged calls are not fully in the audit trail after the crash", missing, len(acked))
	}
	return records, missing, unfinished
}
