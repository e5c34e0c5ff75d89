package gateway_test

import (
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse/gatehouse/internal/store"
)

// TestStoredLowerCaseEnvStillWorks: variable names stored before the
// tenant file asked for upper-case (env: [https_proxy], headers_env:
// {Authorization: files_token}) still work at run time: the stdio
// upstream gets the variable, the HTTP upstream gets its header.
func TestStoredLowerCaseEnvStillWorks(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("gh_test_lower_passed", "for the stdio upstream")
	t.Setenv("gh_test_lower_auth", "Bearer from-a-lower-case-name")
	usURL, seenAuth := guardedUpstream(t, newTestUpstream("Echoes its text"), "Bearer from-a-lower-case-name")
	e := newEnv(t, envOptions{
		tools: []store.Tool{{Name: "getenv", Upstream: "stdio", Roles: []string{"sales-manager"}},
			{Name: "echo", Upstream: "http", Roles: []string{"sales-manager"}}},
		upstreams: []store.Upstream{
			{Name: "stdio", Command: []string{exe, "-gatehouse-test-upstream"}, Env: []string{"gh_test_lower_passed"}},
			{Name: "http", URL: usURL, HeadersEnv: map[string]string{"Authorization": "gh_test_lower_auth"}},
		}})
	cs := e.connect("alice", "acme-assistant", "2025-11-25")
	waitFor(t, "both upstreams' tools", func() bool {
		names := toolNames(t, cs)
		return slices.Contains(names, "getenv") && slices.Contains(names, "echo")
	})
	if got := text(call(t, cs, "getenv", map[string]any{"name": "gh_test_lower_passed"})); got != "for the stdio upstream" {
		t.Errorf("the stdio upstream's gh_test_lower_passed = %q", got)
	}
	if r := call(t, cs, "echo", map[string]any{"text": "hi"}); r.IsError || text(r) != "hi" {
		t.Errorf("echo = %v %q", r.IsError, text(r))
	}
	for _, s := range e.gw.Upstreams() {
		if !s.Connected {
			t.Errorf("%s not connected: %s", s.Name, s.LastError)
		}
	}
	seen := seenAuth()
	if len(seen) == 0 {
		t.Error("the HTTP upstream saw no request")
	}
	for _, a := range seen {
		if a != "Bearer from-a-lower-case-name" {
			t.Errorf("the HTTP upstream got Authorization %q", a)
		}
	}
}

// TestStoredUpstreamEnvNotAName: a stored variable "name" that is no name at
// all (a secret pasted into a store written otherwise than by the tenant
// file) keeps its upstream from connecting, and neither its status nor the
// log repeats it: it would be printed on every reconnect.
func TestStoredUpstreamEnvNotAName(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	const secret1, secret2, secret3 = "ghp_x y", "1BAD", "sk live S3cret"
	usURL, hits := refusingUpstream(t)
	var logMu sync.Mutex
	logs := &lockedBuffer{mu: &logMu}
	e := newEnv(t, envOptions{
		logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		upstreams: []store.Upstream{
			{Name: "spaced", Command: []string{exe, "-gatehouse-test-upstream"}, Env: []string{"PATH", secret1}},
			{Name: "digit", Command: []string{exe, "-gatehouse-test-upstream"}, Env: []string{secret2}},
			{Name: "header", URL: usURL, HeadersEnv: map[string]string{"X-Api-Key": secret3}},
		}})
	want := map[string]string{
		"spaced": "env[1]: is not an environment variable name",
		"digit":  "env[0]: is not an environment variable name",
		"header": "headers_env.X-Api-Key: is not an environment variable name",
	}
	waitFor(t, "the upstreams' errors, in their status and the log", func() bool {
		n := 0
		for _, s := range e.gw.Upstreams() {
			if !s.Connected && want[s.Name] != "" && strings.Contains(s.LastError, want[s.Name]) {
				n++
			}
		}
		logMu.Lock()
		defer logMu.Unlock()
		return n == len(want) && strings.Count(logs.buf.String(), "is not an environment variable name") >= len(want)
	})
	var all strings.Builder
	for _, s := range e.gw.Upstreams() {
		all.WriteString(s.LastError + "\n")
	}
	logMu.Lock()
	all.WriteString(logs.buf.String())
	logMu.Unlock()
	for _, secret := range []string{secret1, secret2, secret3, "S3cret", "ghp_x"} {
		if strings.Contains(all.String(), secret) {
			t.Errorf("%q shown:\n%s", secret, all.String())
		}
	}
	if n := hits(); n != 0 {
		t.Errorf("the HTTP upstream got %d requests", n)
	}
}
