package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// conformanceScript is interop/conformance.sh, which runs the official MCP
// conformance suite (@modelcontextprotocol/conformance) with the Node 22
// of interop/node_modules.
func conformanceScript(t *testing.T) string {
	dir, err := filepath.Abs("../../interop")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@modelcontextprotocol", "conformance")); err != nil {
		msg := "the MCP conformance suite is not installed: run 'npm ci' in interop/ (make interop-deps)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return filepath.Join(dir, "conformance.sh")
}

// conformanceResult is the JSON line conformance.sh prints.
type conformanceResult struct {
	Passed          int      `json:"passed"`
	Failed          int      `json:"failed"`
	Total           int      `json:"total"`
	FailedScenarios []string `json:"failed_scenarios"`
	PassedScenarios []string `json:"passed_scenarios"`
	ResultsDir      string   `json:"results_dir"`
}

// runConformance runs the suite against url.
func runConformance(t *testing.T, script, url string) conformanceResult {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	outdir := t.TempDir()
	if d := os.Getenv("GATEHOUSE_CONFORMANCE_OUT"); d != "" {
		outdir = filepath.Join(d, strings.NewReplacer(":", "_", "/", "_").Replace(url))
	}
	cmd := exec.CommandContext(ctx, "bash", script, url, outdir)
	cmd.Env = append(os.Environ(), "CONFORMANCE_QUIET=1")
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 15 * time.Second
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var res conformanceResult
	if jerr := json.Unmarshal([]byte(lines[len(lines)-1]), &res); jerr != nil || res.Total == 0 {
		t.Fatalf("conformance.sh %s: %v\n%s\n%s", url, err, out, stderr.String())
	}
	// Exit 2 is a run that did not finish (a timeout, a crash): its
	// summary counts only the scenarios that ran before it stopped.
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 2 {
		t.Fatalf("conformance.sh %s did not finish: %v\n%s\n%s", url, err, out, stderr.String())
	}
	return res
}

// TestConformance runs the official MCP conformance suite (server mode)
// against the Go SDK's everything-server directly, then through the
// gateway with that server as its upstream, over stdio and over Streamable
// HTTP (where each caller has a session of its own, lanes.go), all of its
// tools granted to the test user; the suite cannot log in, so a proxy adds
// the token.
func TestConformance(t *testing.T) {
	script := conformanceScript(t)
	bin := filepath.Join(t.TempDir(), "everything-server")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/modelcontextprotocol/go-sdk/conformance/everything-server").CombinedOutput(); err != nil {
		t.Fatalf("build everything-server: %v\n%s", err, out)
	}

	// Directly.
	ln := freeAddr(t)
	srv := exec.Command(bin, "-http="+ln, "-stateless=false")
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })
	waitHTTP(t, "http://"+ln+"/")
	want := runConformance(t, script, "http://"+ln+"/")
	// The comparison proves something only against an upstream that
	// works: the fixture passes every scenario directly (interop/README.md).
	// One the suite could not reach scores 0, and "every scenario that
	// passes directly" would then pass a gateway that passes nothing.
	if want.Passed == 0 || want.Passed != want.Total {
		t.Fatalf("the upstream directly passes %d of %d scenarios, want every one (failing: %v): nothing to compare the gateway with",
			want.Passed, want.Total, want.FailedScenarios)
	}

	for name, up := range map[string]store.Upstream{
		"stdio": {Name: "everything", Command: []string{bin}},
		"http":  {Name: "everything", URL: "http://" + ln + "/"},
	} {
		t.Run(name, func(t *testing.T) {
			gwURL := conformanceThroughGateway(t, up)
			got := runConformance(t, script, gwURL)
			t.Logf("directly: %d of %d scenarios pass; through the gateway: %d of %d", want.Passed, want.Total, got.Passed, got.Total)
			// The gateway must pass what the upstream passes, every scenario:
			// elicitation-sep1330-enums and tools-call-with-logging, once known
			// gaps, pass since the relay was fixed (enum schemas restored on the
			// way to the agent; a call's last log messages relayed before its
			// result, barrier.go).
			for _, s := range want.PassedScenarios {
				if !slices.Contains(got.PassedScenarios, s) {
					t.Errorf("scenario %s passes directly, fails through the gateway; what the suite recorded:\n%s", s, scenarioChecks(got.ResultsDir, s))
				}
			}
		})
	}
}

// conformanceThroughGateway starts a gateway with up as its upstream, all
// of whose tools alice may call, and returns the URL of a proxy to its
// /mcp that adds alice's token.
func conformanceThroughGateway(t *testing.T, up store.Upstream) string {
	e := newEnv(t, envOptions{tools: []store.Tool{}, upstreams: []store.Upstream{up}})
	waitFor(t, "the upstream", connected(e, up.Name))
	ctx := context.Background()
	var names []string
	waitFor(t, "imported tools", func() bool {
		for _, u := range e.gw.Upstreams() {
			names = u.Tools
		}
		ts, _ := e.st.Tools().List(ctx)
		return len(names) > 0 && len(ts) == len(names)
	})
	for _, n := range names {
		var pending string
		if err := e.st.Tools().Update(ctx, n, func(t store.Tool) (store.Tool, error) {
			t.Roles, pending = []string{"sales-manager"}, t.PendingHash
			return t, nil
		}); err != nil {
			t.Fatal(err)
		}
		if err := e.gw.Approve(ctx, n, pending); err != nil {
			t.Fatal(err)
		}
	}
	token := e.token("alice", "acme-assistant")
	cs := e.connect("alice", "acme-assistant", "2025-11-25")
	// The upstream's prompts and resources are listed after its tools, and
	// its prompts once pinned: the suite's reads and gets find nothing
	// before.
	waitFor(t, "the upstream's prompts and resources", func() bool {
		pl, err := cs.ListPrompts(ctx, nil)
		rl, err2 := cs.ListResources(ctx, nil)
		return err == nil && err2 == nil && len(pl.Prompts) > 0 && len(rl.Resources) > 0
	})
	listed := toolNames(t, cs)
	for _, n := range names {
		if !slices.Contains(listed, n) {
			t.Errorf("upstream tool %s is not listed through the gateway", n)
		}
	}
	gwURL, _ := url.Parse(e.resource)
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(gwURL)
		r.Out.URL.Path = gwURL.Path
		// The proxy stands for the gateway: its own name maps to the
		// gateway's, any other Host or Origin goes through unchanged.
		if r.In.Host == r.In.Context().Value(http.LocalAddrContextKey).(interface{ String() string }).String() {
			r.Out.Host = gwURL.Host
		} else {
			r.Out.Host = r.In.Host
		}
		if o := r.In.Header.Get("Origin"); o != "" && strings.Contains(o, r.In.Host) {
			r.Out.Header.Set("Origin", gwURL.Scheme+"://"+gwURL.Host)
		}
		r.Out.Header.Set("Authorization", "Bearer "+token)
	}, FlushInterval: -1}
	// Full duplex: the gateway starts its event stream (a progress or log
	// message) while the proxy's transport may still be reading the
	// request body to its end. By default Go's server closes the body once
	// the response begins: that read failed, the transport dropped its
	// connection to the gateway mid-stream and the suite waited 60 s for a
	// result it never got (the "intermittent relay hang" of 2026-11-26,
	// one full run in ~20 under load; the gateway had answered).
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = http.NewResponseController(w).EnableFullDuplex()
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)
	return proxy.URL + "/mcp"
}

// scenarioChecks returns what the suite recorded of scenario in dir (its
// checks.json), at most 4 KiB of it.
func scenarioChecks(dir, scenario string) string {
	files, _ := filepath.Glob(filepath.Join(dir, "server-"+scenario+"*", "checks.json"))
	if len(files) == 0 {
		return "(no checks.json in " + dir + ")"
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		return err.Error()
	}
	if len(b) > 4096 {
		b = append(b[:4096], "…"...)
	}
	return string(b)
}

func freeAddr(t *testing.T) string {
	l := httptest.NewUnstartedServer(nil)
	addr := l.Listener.Addr().String()
	l.Listener.Close()
	return addr
}

func waitHTTP(t *testing.T, u string) {
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(u)
		if err == nil {
			resp.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer", u)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
