package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// plainHTTPTenant writes a tenant file with a role "support", an HTTP API
// tool "refund" at toolURL and a Streamable HTTP upstream "files" at
// upstreamURL, each entry extended by its extra.
func plainHTTPTenant(t *testing.T, toolURL, toolExtra, upstreamURL, upstreamExtra string) string {
	t.Helper()
	src := `tenant: acme
roles:
  - name: support
upstreams:
  - name: files
    url: "` + upstreamURL + `"` + upstreamExtra + `
tools:
  - name: refund
    http: {method: POST, url: "` + toolURL + `"` + toolExtra + `}
    roles: [support]
`
	f := filepath.Join(t.TempDir(), "acme.yaml")
	if err := os.WriteFile(f, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestApplyRefusesPlainHTTPToAnotherMachine: a tenant file whose HTTP API
// tool or Streamable HTTP upstream is reached over plain http on another
// machine (the permission slip, the gateway's credentials in clear text)
// is refused as a whole, naming each and how to accept it; nothing of the
// file is applied, not even its harmless parts. Over loopback it applies,
// and so it does elsewhere once each entry says allow_plain_http.
func TestApplyRefusesPlainHTTPToAnotherMachine(t *testing.T) {
	d := []string{"--data", t.TempDir()}
	base := filepath.Join(t.TempDir(), "base.yaml")
	if err := os.WriteFile(base, []byte("tenant: acme\nroles:\n  - name: ops\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	must(t, run(t, nil, "", append([]string{"apply", "-f", base}, d...)...))
	bad := plainHTTPTenant(t, "http://billing.internal/refund", "", "http://files.internal/mcp", "")
	r := run(t, nil, "", append([]string{"apply", "-f", bad}, d...)...)
	if r.code == 0 {
		t.Fatalf("applied:\n%s", r.stdout)
	}
	for _, want := range []string{"tool refund:", "upstream files:", "plain http", "allow_plain_http: true"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("the refusal does not say %q:\n%s", want, r.stderr)
		}
	}
	for _, what := range []string{"tool", "upstream", "role"} {
		if l := must(t, run(t, nil, "", append([]string{what, "list"}, d...)...)).stdout; strings.Contains(l, "refund") || strings.Contains(l, "files") || strings.Contains(l, "support") {
			t.Errorf("a refused file changed the %ss:\n%s", what, l)
		}
	}

	// Loopback: taken as it is.
	must(t, run(t, nil, "", append([]string{"apply", "-f", plainHTTPTenant(t, "http://127.0.0.1:9200/refund", "", "http://localhost:9100/mcp", "")}, d...)...))
	// Another machine, each entry opting in: taken.
	r = must(t, run(t, nil, "", append([]string{"apply", "-f", plainHTTPTenant(t, "http://billing.internal/refund", ", allow_plain_http: true",
		"http://files.internal/mcp", "\n    allow_plain_http: true")}, d...)...))
	if !strings.Contains(r.stdout, "~ tool refund") || !strings.Contains(r.stdout, "~ upstream files") {
		t.Errorf("the opted-in URLs were not applied:\n%s", r.stdout)
	}
	if l := must(t, run(t, nil, "", append([]string{"upstream", "list"}, d...)...)).stdout; !strings.Contains(l, "files.internal") {
		t.Errorf("upstream list after the opt-in:\n%s", l)
	}
}

// TestAddRefusesPlainHTTPToAnotherMachine: 'tool add' and 'upstream add'
// refuse what the tenant file refuses, a plain http URL on another
// machine, saying how to accept it (--allow-plain-http); nothing is added.
// Loopback and the flag are taken.
func TestAddRefusesPlainHTTPToAnotherMachine(t *testing.T) {
	d := []string{"--data", t.TempDir()}
	for _, args := range [][]string{
		{"tool", "add", "refund", "--http-method", "POST", "--http-url", "http://billing.internal/refund"},
		{"upstream", "add", "files", "--url", "http://files.internal/mcp"},
	} {
		r := run(t, nil, "", append(args, d...)...)
		if r.code == 0 || !strings.Contains(r.stderr, "plain http") || !strings.Contains(r.stderr, "--allow-plain-http") {
			t.Errorf("%q: exit %d, stderr %q", args, r.code, r.stderr)
		}
		if l := must(t, run(t, nil, "", append([]string{args[0], "list"}, d...)...)).stdout; strings.Contains(l, args[2]) {
			t.Errorf("%q: added anyway:\n%s", args, l)
		}
	}
	must(t, run(t, nil, "", append([]string{"tool", "add", "local", "--http-method", "POST", "--http-url", "http://127.0.0.1:9200/refund"}, d...)...))
	must(t, run(t, nil, "", append([]string{"upstream", "add", "local", "--url", "http://[::1]:9100/mcp"}, d...)...))
	must(t, run(t, nil, "", append([]string{"tool", "add", "refund", "--http-method", "POST", "--http-url", "http://billing.internal/refund", "--allow-plain-http"}, d...)...))
	must(t, run(t, nil, "", append([]string{"upstream", "add", "files", "--url", "http://files.internal/mcp", "--allow-plain-http"}, d...)...))
	// The flag is for a URL: a stdio upstream has none.
	r := run(t, nil, "", append([]string{"upstream", "add", "crm", "--command", "crm", "--allow-plain-http"}, d...)...)
	if r.code == 0 || !strings.Contains(r.stderr, "--allow-plain-http") {
		t.Errorf("--allow-plain-http on a stdio upstream: exit %d, stderr %q", r.code, r.stderr)
	}
}
