package e2e_test

// The official MCP conformance suite (@modelcontextprotocol/conformance,
// server mode) against the Go SDK's fixture server (everything-server),
// once directly and once through Gatehouse's /mcp with that server as a
// Streamable HTTP upstream whose every tool is granted to the test user.
// The gateway must score at least what the upstream scores directly.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/e2e"
)

// confResult is the JSON line interop/conformance.sh prints.
type confResult struct {
	Passed          int      `json:"passed"`
	Failed          int      `json:"failed"`
	Total           int      `json:"total"`
	ChecksPassed    int      `json:"checks_passed"`
	ChecksFailed    int      `json:"checks_failed"`
	FailedScenarios []string `json:"failed_scenarios"`
	PassedScenarios []string `json:"passed_scenarios"`
	ResultsDir      string   `json:"results_dir"`
	// Messages are the failing checks' messages by scenario, and Checks
	// how many checks each scenario ran, from the results' summary.json.
	Messages map[string][]string `json:"-"`
	Checks   map[string]int      `json:"-"`
}

// confRun runs interop/conformance.sh against url.
func confRun(ctx context.Context, t *testing.T, url string) (confResult, error) {
	outdir := filepath.Join(t.TempDir(), "results")
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(e2e.InteropDir(t), "conformance.sh"), url, outdir)
	cmd.Env = append(os.Environ(), "CONFORMANCE_QUIET=1", "CONFORMANCE_TIMEOUT=90")
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 15 * time.Second
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var res confResult
	if jerr := json.Unmarshal([]byte(mcpLastLine(string(out))), &res); jerr != nil || res.Total == 0 {
		return res, fmt.Errorf("conformance.sh %s: %v (%v)\nstdout: %s\nstderr: %s", url, err, jerr, out, stderr.String())
	}
	// Exit 2 is a run that did not finish (a timeout, a crash): its
	// summary counts only the scenarios that ran before, so it cannot be
	// compared.
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 2 {
		return res, fmt.Errorf("conformance.sh %s did not finish: %v\nstdout: %s\nstderr: %s", url, err, out, stderr.String())
	}
	var summary struct {
		Scenarios []struct {
			Name     string `json:"name"`
			Passed   int    `json:"passed"`
			Failed   int    `json:"failed"`
			Warnings int    `json:"warnings"`
			Messages []struct {
				Check, Status, Message string
			} `json:"messages"`
		} `json:"scenarios"`
	}
	if b, err := os.ReadFile(filepath.Join(res.ResultsDir, "summary.json")); err == nil && json.Unmarshal(b, &summary) == nil {
		res.Messages, res.Checks = map[string][]string{}, map[string]int{}
		for _, sc := range summary.Scenarios {
			res.Checks[sc.Name] = sc.Passed + sc.Failed + sc.Warnings
			for _, m := range sc.Messages {
				if m.Status == "FAILURE" {
					res.Messages[sc.Name] = append(res.Messages[sc.Name], m.Check+": "+m.Message)
				}
			}
		}
	}
	return res, nil
}

// confEverythingServer runs the Go SDK's conformance fixture server on a
// loopback port, in its stateful mode, and returns its /mcp URL.
func confEverythingServer(t *testing.T, bin string) string {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", mcpFreePort(t))
	cmd := exec.Command(bin, "-http", addr, "-stateless=false")
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	for deadline := time.Now().Add(15 * time.Second); ; {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return "http://" + addr + "/mcp"
		}
		if time.Now().After(deadline) {
			t.Fatalf("everything-server did not listen on %s: %s", addr, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// mcpListTools lists the tools of an MCP server with the Go SDK, through hc.
func mcpListTools(ctx context.Context, endpoint string, hc *http.Client) ([]string, error) {
	client := mcp.NewClient(&mcp.Implementation{Name: "gatehouse-e2e-lister", Version: "1.0.0"}, nil)
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: endpoint, HTTPClient: hc}, nil)
	if err != nil {
		return nil, err
	}
	defer cs.Close()
	var names []string
	for tool, err := range cs.Tools(ctx, nil) {
		if err != nil {
			return nil, err
		}
		names = append(names, tool.Name)
	}
	slices.Sort(names)
	return names, nil
}

// mcpBearerTransport adds a bearer token to every request.
type mcpBearerTransport struct{ token string }

func (b mcpBearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}

// confBearerProxy serves a loopback reverse proxy to target that adds the
// token, since the suite cannot sign in. It stands for the gateway: a
// request to the proxy's own address goes on with the gateway's Host (and
// Origin), any other Host or Origin (the suite's DNS rebinding probe) goes
// on unchanged. Streams pass unbuffered, in both directions at once.
func confBearerProxy(t *testing.T, target, token string) string {
	t.Helper()
	tu, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	self := ln.Addr().String()
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(tu)
			r.Out.URL.Path, r.Out.URL.RawPath = tu.Path, ""
			r.Out.Host = r.In.Host
			if r.In.Host == self {
				r.Out.Host = tu.Host
			}
			if o := r.In.Header.Get("Origin"); o != "" {
				if ou, err := url.Parse(o); err == nil && ou.Host == self {
					r.Out.Header.Set("Origin", tu.Scheme+"://"+tu.Host)
				}
			}
			r.Out.Header.Set("Authorization", "Bearer "+token)
		},
		FlushInterval: -1,
		// A client that hangs up on a stream is no error of the proxy.
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if r.Context().Err() == nil {
				http.Error(w, "proxy: "+err.Error(), http.StatusBadGateway)
			}
		},
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = http.NewResponseController(w).EnableFullDuplex()
		rp.ServeHTTP(w, r)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + self + tu.Path
}

// TestConformanceThroughGateway: the gateway scores at least what its
// upstream scores directly in the official MCP conformance suite.
func TestConformanceThroughGateway(t *testing.T) {
	mcpRequirePeer(t, "@modelcontextprotocol/conformance")
	bin := filepath.Join(t.TempDir(), "everything-server")
	build := exec.Command("go", "build", "-o", bin, "github.com/modelcontextprotocol/go-sdk/conformance/everything-server")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build everything-server: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Second)
	defer cancel()

	// Two servers: the suite changes a server's state (tool list changes,
	// subscriptions), so the direct run and the upstream do not share one.
	direct := confEverythingServer(t, bin)
	upstream := confEverythingServer(t, bin)
	names, err := mcpListTools(ctx, upstream, nil)
	if err != nil || len(names) == 0 {
		t.Fatalf("list everything-server's tools: %v %v", names, err)
	}

	// Every tool of the upstream, declared and granted to the tester.
	var b strings.Builder
	fmt.Fprintf(&b, "tenant: conformance\nroles:\n  - name: tester\nusers:\n  - username: alice\n    password: alice-e2e-password\n    roles: [tester]\n")
	fmt.Fprintf(&b, "upstreams:\n  - name: everything\n    url: %s\ntools:\n", upstream)
	for _, n := range names {
		fmt.Fprintf(&b, "  - name: %s\n    upstream: everything\n    roles: [tester]\n", n)
	}
	g := e2e.Start(t, b.String(), nil)
	token := mcpToken(t, g, "alice", "alice-e2e-password")

	// The gateway imports the upstream's definitions in the background.
	hc := &http.Client{Transport: mcpBearerTransport{token}}
	var listed []string
	for deadline := time.Now().Add(20 * time.Second); ; {
		listed, err = mcpListTools(ctx, g.URL+"/mcp", hc)
		if err == nil && slices.Equal(listed, names) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("through the gateway alice sees %v (err %v), want every upstream tool %v", listed, err, names)
		}
		time.Sleep(200 * time.Millisecond)
	}

	proxy := confBearerProxy(t, g.URL+"/mcp", token)
	var wg sync.WaitGroup
	var want, got confResult
	var wantErr, gotErr error
	wg.Add(2)
	go func() { defer wg.Done(); want, wantErr = confRun(ctx, t, direct) }()
	go func() { defer wg.Done(); got, gotErr = confRun(ctx, t, proxy) }()
	wg.Wait()
	if err := errors.Join(wantErr, gotErr); err != nil {
		t.Fatal(err)
	}
	t.Logf("directly: %d/%d scenarios (%d checks passed, %d failed); failing: %v", want.Passed, want.Total, want.ChecksPassed, want.ChecksFailed, want.FailedScenarios)
	t.Logf("through the gateway: %d/%d scenarios (%d checks passed, %d failed); failing: %v", got.Passed, got.Total, got.ChecksPassed, got.ChecksFailed, got.FailedScenarios)
	// The comparison proves something only against an upstream that
	// works: the fixture passes every scenario directly (interop/README.md).
	// One that did not start, or that the suite could not reach, scores 0,
	// and "at least what it scores directly" would then pass a gateway
	// that passes nothing.
	if want.Passed == 0 || want.Passed != want.Total {
		t.Fatalf("the upstream directly passes %d of %d scenarios, want every one (failing: %v): nothing to compare the gateway with",
			want.Passed, want.Total, want.FailedScenarios)
	}
	for s, n := range want.Checks {
		if got.Checks[s] != n {
			t.Logf("scenario %s ran %d checks directly, %d through the gateway", s, n, got.Checks[s])
		}
	}
	var lost []string
	for _, s := range want.PassedScenarios {
		if !slices.Contains(got.PassedScenarios, s) {
			lost = append(lost, s)
			t.Logf("lost through the gateway: %s: %s", s, strings.Join(got.Messages[s], "; "))
		}
	}
	if len(lost) > 0 || got.Passed < want.Passed {
		t.Errorf("the gateway scores %d/%d, the upstream directly %d/%d; passing directly but not through the gateway: %v",
			got.Passed, got.Total, want.Passed, want.Total, lost)
	}
}
