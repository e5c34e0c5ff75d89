package cli_test

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/buildinfo"
	"github.com/gatehouse/gatehouse/internal/cli"
)

type result struct {
	code           int
	stdout, stderr string
}

// runBound is how long run lets a command take: generous for any command
// that returns by itself, short of go test's own timeout.
const runBound = 60 * time.Second

func run(t *testing.T, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	return runWithin(t, runBound, env, stdin, args...)
}

// runWithin runs the command line and ends its context after bound: a
// serve case that should have been refused but started serving fails the
// test then, instead of hanging it until go test's timeout.
func runWithin(t testing.TB, bound time.Duration, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	var out, errb bytes.Buffer
	e := &cli.Env{Stdout: &out, Stderr: &errb, Stdin: strings.NewReader(stdin),
		Getenv: func(k string) string { return env[k] }, Context: ctx}
	code := cli.Run(e, args)
	r := result{code, out.String(), errb.String()}
	if ctx.Err() != nil {
		t.Fatalf("gatehouse %s: still running after %v, cancelled (did a serve that should be refused start?)\nexit %d\nstdout: %s\nstderr: %s",
			strings.Join(args, " "), bound, r.code, r.stdout, r.stderr)
	}
	return r
}

func must(t *testing.T, r result) result {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	return r
}

const testdata = "../config/testdata/"

func TestApplyPlanIdempotentAndEveryMistake(t *testing.T) {
	data := t.TempDir()
	r := must(t, run(t, nil, "", "apply", "-f", testdata+"acme.yaml", "--data", data))
	if !strings.Contains(r.stdout, "+ user alice") || !strings.Contains(r.stdout, "+ tool refund") {
		t.Errorf("plan not printed:\n%s", r.stdout)
	}
	r = must(t, run(t, nil, "", "apply", "-f", testdata+"acme.yaml", "--data", data))
	if !strings.Contains(r.stdout, "No changes") {
		t.Errorf("second apply: %s", r.stdout)
	}
	before := must(t, run(t, nil, "", "user", "list", "--data", data)).stdout

	r = run(t, nil, "", "apply", "-f", testdata+"three-mistakes.yaml", "--data", data)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1", r.code)
	}
	for _, want := range []string{`unknown role "sales-manger"`, `"robot": must be agent`, "needs exactly one of builtin, upstream or http"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr misses %q:\n%s", want, r.stderr)
		}
	}
	if after := must(t, run(t, nil, "", "user", "list", "--data", data)).stdout; after != before {
		t.Errorf("a refused file changed the store:\n%s\n→\n%s", before, after)
	}
	// A dry run prints and changes nothing, nor creates a store and a
	// master key where none was.
	other := t.TempDir()
	r = must(t, run(t, nil, "", "apply", "--dry-run", "-f", testdata+"acme.yaml", "--data", other))
	if !strings.Contains(r.stdout, "dry run") || !strings.Contains(r.stdout, "+ user alice") || !strings.Contains(r.stdout, "plan for a new one") {
		t.Errorf("dry run: %s", r.stdout)
	}
	if entries, _ := os.ReadDir(other); len(entries) > 0 {
		t.Errorf("dry run wrote %v", entries)
	}
}

func TestEnvironmentSetsFlags(t *testing.T) {
	data := t.TempDir()
	env := map[string]string{"GATEHOUSE_DATA": data}
	must(t, run(t, env, "", "role", "add", "auditor"))
	if l := must(t, run(t, nil, "", "role", "list", "--data", data)).stdout; !strings.Contains(l, "auditor") {
		t.Errorf("GATEHOUSE_DATA was not used: %s", l)
	}
	// The command line wins over the environment.
	other := t.TempDir()
	must(t, run(t, env, "", "role", "add", "other", "--data", other))
	if l := must(t, run(t, nil, "", "role", "list", "--data", data)).stdout; strings.Contains(l, "other") {
		t.Errorf("the environment won over the flag: %s", l)
	}
}

func TestAdminCommands(t *testing.T) {
	d := []string{"--data", t.TempDir()}
	c := func(args ...string) result { return must(t, run(t, nil, "", append(args, d...)...)) }
	c("role", "add", "sales-manager", "--description", "Reads sales")
	must(t, run(t, nil, "s3cret-pass\n", append([]string{"user", "add", "carol", "--email", "carol@acme.example", "--password-stdin", "--role", "sales-manager"}, d...)...))
	c("tool", "add", "sales_report", "--builtin", "sales_report", "--role", "sales-manager")
	c("upstream", "add", "crm", "--command", "crm-server", "--command", "--stdio")
	c("upstream", "add", "files", "--command", "files-server", "--per-caller", "--call-timeout", "90s", "--env", "FILES_TOKEN")
	if ul := c("upstream", "list").stdout; !strings.Contains(ul, "crm") || !strings.Contains(ul, "stdio, per caller") || !strings.Contains(ul, "1m30s") {
		t.Errorf("upstream list:\n%s", ul)
	}
	c("tool", "add", "crm_lookup", "--upstream", "crm")
	c("tool", "grant", "crm_lookup", "sales-manager")
	must(t, run(t, nil, "a-long-client-secret-of-32-chars-or-more\n", append([]string{"client", "add", "billing", "--kind", "service", "--secret-stdin"}, d...)...))
	c("client", "add", "assistant", "--redirect-uri", "http://127.0.0.1:9000/cb", "--tool", "sales_report")

	tools := c("tool", "list").stdout
	for _, want := range []string{"sales_report", "builtin:sales_report", "crm_lookup", "upstream:crm"} {
		if !strings.Contains(tools, want) {
			t.Errorf("tool list misses %q:\n%s", want, tools)
		}
	}
	if cl := c("client", "list").stdout; !strings.Contains(cl, "only: sales_report") || !strings.Contains(cl, "confidential") {
		t.Errorf("client list:\n%s", cl)
	}
	c("tool", "revoke", "crm_lookup", "sales-manager")
	c("user", "revoke", "carol", "sales-manager")
	if u := c("user", "list").stdout; strings.Contains(u, "sales-manager") {
		t.Errorf("revoke kept the role:\n%s", u)
	}
	c("user", "grant", "carol", "sales-manager")
	c("role", "remove", "sales-manager")
	if u := c("user", "list").stdout; strings.Contains(u, "sales-manager") {
		t.Errorf("removing a role kept it on the user:\n%s", u)
	}

	// Refusals: each a clear message and exit 1 (2 for usage), nothing changed.
	for _, tc := range []struct {
		args []string
		want string
		code int
	}{
		{[]string{"role", "remove", "admin"}, "built in", 1},
		{[]string{"user", "grant", "carol", "ghost"}, `unknown role "ghost"`, 1},
		{[]string{"user", "add", "carol"}, "already exists", 1},
		{[]string{"user", "add", "billing"}, `"billing" is a client: a person and a client cannot share a name`, 1},
		{[]string{"client", "add", "carol"}, `"carol" is a user: a person and a client cannot share a name`, 1},
		{[]string{"user", "remove", "nobody"}, "not found", 1},
		{[]string{"tool", "add", "x", "--builtin", "nope"}, "unknown built-in tool", 1},
		{[]string{"tool", "add", "x"}, "exactly one backend", 1},
		{[]string{"tool", "add", "x", "--builtin", "sales_report", "--when", "context.args.amount <="}, "--when", 1},
		{[]string{"client", "add", "web1", "--redirect-uri", "http://evil.example/cb"}, "loopback", 1},
		{[]string{"client", "add", "svc", "--kind", "service"}, "needs a secret", 1},
		// The tenant file's checks of http tools and upstreams.
		{[]string{"tool", "add", "x", "--http-method", "FETCH", "--http-url", "http://127.0.0.1:9200/x"}, `--http-method "FETCH": must be GET, POST`, 1},
		{[]string{"tool", "add", "x", "--http-method", "POST", "--http-url", "ftp://files.example/x"}, "is not an http(s) URL", 1},
		{[]string{"tool", "add", "x", "--http-method", "POST"}, "is not an http(s) URL", 1},
		{[]string{"tool", "add", "x", "--http-method", "POST", "--http-url", "https://u:CliPw@api.example/x"}, "credentials do not belong in the URL", 1},
		{[]string{"tool", "add", "x", "--http-method", "POST", "--http-url", "https://api.example/x", "--http-client", "assistant"}, "must be of kind service", 1},
		{[]string{"tool", "add", "x", "--http-method", "POST", "--http-url", "https://api.example/x", "--http-client", "ghost"}, "--http-client ghost", 1},
		{[]string{"tool", "add", "x", "--builtin", "sales_report", "--http-client", "billing"}, "--http-client goes with", 1},
		{[]string{"upstream", "add", "web2", "--url", "not a url"}, "is not an http(s) URL", 1},
		{[]string{"upstream", "add", "web2", "--url", "https://u:CliPw@mcp.example/mcp"}, "credentials do not belong in the URL", 1},
		{[]string{"upstream", "add", "cmd2", "--command", ""}, "the program is empty", 1},
		{[]string{"upstream", "remove", "crm"}, "remove the tool first", 1},
		{[]string{"upstream", "add", "web", "--url", "http://127.0.0.1:9100/mcp", "--per-caller"}, "--per-caller goes with --command", 1},
		{[]string{"upstream", "add", "web", "--url", "http://127.0.0.1:9100/mcp", "--call-timeout", "forever"}, `--call-timeout: "forever" is not a duration`, 1},
		{[]string{"upstream", "add", "git", "--command", "git-mcp", "--env", "GATEHOUSE_MASTER_KEY"}, "never passed on", 1},
		{[]string{"user", "grant", "carol"}, "want 2 argument(s)", 2},
		{[]string{"user", "frobnicate"}, "unknown command", 2},
	} {
		r := run(t, nil, "", append(tc.args, d...)...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", tc.args, r.code, r.stderr, tc.code, tc.want)
		}
	}
}

func TestHelpOnEveryCommand(t *testing.T) {
	for _, args := range [][]string{
		{"--help"}, {"demo", "--help"}, {"serve", "--help"}, {"apply", "--help"}, {"version", "--help"},
		{"keys", "--help"}, {"keys", "rotate", "--help"}, {"user", "--help"}, {"user", "add", "--help"},
		{"role", "add", "--help"}, {"client", "add", "--help"}, {"tool", "add", "--help"}, {"upstream", "add", "--help"},
	} {
		r := run(t, nil, "", args...)
		if r.code != 0 || !strings.Contains(r.stderr, "Usage: gatehouse") || strings.Contains(r.stderr, "gatehouse  ") {
			t.Errorf("%v: exit %d, stderr %q", args, r.code, r.stderr)
		}
	}
	if r := run(t, nil, ""); r.code != 2 {
		t.Errorf("no command: exit %d, want 2", r.code)
	}
	// The release the MCP serverInfo names too (the gateway's tests).
	if r := must(t, run(t, nil, "", "version")); !strings.HasPrefix(r.stdout, "gatehouse "+buildinfo.Version) {
		t.Errorf("version: %q", r.stdout)
	}
}

func TestBadPlaces(t *testing.T) {
	// A data folder that cannot be made.
	file := filepath.Join(t.TempDir(), "a-file")
	os.WriteFile(file, []byte("x"), 0o600)
	r := run(t, nil, "", "role", "list", "--data", filepath.Join(file, "sub"))
	if r.code != 1 || !strings.Contains(r.stderr, "data folder") {
		t.Errorf("bad data folder: exit %d, %q", r.code, r.stderr)
	}
	// An unreachable database: a clear message, and never the password.
	r = run(t, map[string]string{"GATEHOUSE_DATABASE": "postgres://gh:hunter2-secret@127.0.0.1:1/x?connect_timeout=2"}, "", "role", "list")
	if r.code != 1 || !strings.Contains(r.stderr, "cannot reach database") || strings.Contains(r.stderr, "hunter2") {
		t.Errorf("unreachable database: exit %d, %q", r.code, r.stderr)
	}
	r = run(t, nil, "", "role", "list", "--database", "mysql://x")
	if r.code != 1 || !strings.Contains(r.stderr, "postgres://") {
		t.Errorf("wrong scheme: exit %d, %q", r.code, r.stderr)
	}
	// A port in use.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	r = run(t, nil, "", "serve", "--addr", ln.Addr().String(), "--data", t.TempDir())
	if r.code != 1 || !strings.Contains(r.stderr, "already in use") {
		t.Errorf("port in use: exit %d, %q", r.code, r.stderr)
	}
	// A webhook in clear to another machine: the flag named, not the
	// stream's inner name nor the URL's credentials.
	r = run(t, map[string]string{"GATEHOUSE_AUDIT_WEBHOOK_SECRET": "s3cret-webhook-signing"}, "", "serve", "--addr", "127.0.0.1:0", "--data", t.TempDir(),
		"--audit-webhook", "http://u:pw-in-url@example.com/hook")
	if r.code != 1 || !strings.Contains(r.stderr, "--audit-webhook: the webhook URL must be https") || strings.Contains(r.stderr, "default") || strings.Contains(r.stderr, "pw-in-url") {
		t.Errorf("webhook in clear: exit %d, %q", r.code, r.stderr)
	}
	// A webhook secret short enough to guess offline from one delivery:
	// the setting named, not the secret.
	r = run(t, map[string]string{"GATEHOUSE_AUDIT_WEBHOOK_SECRET": "hunter2"}, "", "serve", "--addr", "127.0.0.1:0", "--data", t.TempDir(),
		"--audit-webhook", "https://siem.example/hook")
	if r.code != 1 || !strings.Contains(r.stderr, "GATEHOUSE_AUDIT_WEBHOOK_SECRET must be at least 16 characters") || strings.Contains(r.stderr, "hunter2") {
		t.Errorf("short webhook secret: exit %d, %q", r.code, r.stderr)
	}
	// A missing tenant file.
	r = run(t, nil, "", "apply", "-f", "no-such.yaml", "--data", t.TempDir())
	if r.code != 1 || !strings.Contains(r.stderr, "no-such.yaml") {
		t.Errorf("missing file: exit %d, %q", r.code, r.stderr)
	}
}
