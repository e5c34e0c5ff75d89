package config_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// plainHTTPFile is a tenant file with an HTTP API tool at toolURL (its
// http block extended by toolExtra) and a Streamable HTTP upstream at
// upstreamURL (its entry extended by upstreamExtra).
func plainHTTPFile(toolURL, toolExtra, upstreamURL, upstreamExtra string) string {
	return `tenant: acme
clients:
  - client_id: billing-api
    kind: service
    secret: "0123456789abcdef0123456789abcdef"
upstreams:
  - name: files
    url: "` + upstreamURL + `"
    headers_env: {Authorization: FILES_MCP_AUTH}` + upstreamExtra + `
tools:
  - name: refund
    http: {method: POST, url: "` + toolURL + `", client_id: billing-api` + toolExtra + `}
    roles: [support]
`
}

// TestPlainHTTPToAnotherMachineRefused: the URL of an HTTP API tool (which
// gets the call's permission slip) and of a Streamable HTTP upstream
// (which gets the gateway's credentials) must be https: plain http would
// carry them across the network in clear text. The refusal names the tool
// and the upstream, says why, and says how to accept it anyway.
func TestPlainHTTPToAnotherMachineRefused(t *testing.T) {
	_, err := parse(t, plainHTTPFile("http://billing.internal/refund?key=k", "", "http://files.internal:9100/mcp", ""))
	if err == nil {
		t.Fatal("plain http to another machine accepted")
	}
	want := []string{
		`t.yaml:8: upstreams[0].url: upstream files: "http://files.internal:9100/mcp" is plain http to a host other than this machine: ` +
			`the calls and the gateway's credentials for it would cross the network in clear text; use https, or set allow_plain_http: true on the upstream to accept that`,
		`t.yaml:12: tools[0].http.url: tool refund: "http://billing.internal/refund?…" is plain http to a host other than this machine: ` +
			`the call's permission slip would cross the network in clear text; use https, or set allow_plain_http: true in the tool's http to accept that`,
	}
	if diff := cmp.Diff(want, problems(t, err)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestPlainHTTPAllowed: https anywhere, plain http to this machine (a
// loopback host, as for redirect URIs and issuers), and plain http to
// another machine where the entry says so with allow_plain_http.
func TestPlainHTTPAllowed(t *testing.T) {
	for _, tt := range []struct {
		name, src string
	}{
		{"https", plainHTTPFile("https://billing.internal/refund", "", "https://files.internal/mcp", "")},
		{"127.0.0.1", plainHTTPFile("http://127.0.0.1:9200/refund", "", "http://127.0.0.1:9100/mcp", "")},
		{"localhost", plainHTTPFile("http://localhost:9200/refund", "", "http://localhost:9100/mcp", "")},
		{"::1", plainHTTPFile("http://[::1]:9200/refund", "", "http://[::1]:9100/mcp", "")},
		{"opted in", plainHTTPFile("http://billing.internal/refund", ", allow_plain_http: true",
			"http://files.internal/mcp", "\n    allow_plain_http: true")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := parse(t, tt.src); err != nil {
				t.Errorf("refused: %v", err)
			}
		})
	}
}

// TestPlainHTTPOptInPerEntry: allow_plain_http is the one entry's, not the
// file's: the tool that says it is taken, the upstream that does not is
// still refused. On a stdio upstream it means nothing, and is refused as
// other url-only settings are.
func TestPlainHTTPOptInPerEntry(t *testing.T) {
	_, err := parse(t, plainHTTPFile("http://billing.internal/refund", ", allow_plain_http: true", "http://files.internal/mcp", ""))
	got := problems(t, err)
	if len(got) != 1 || !strings.Contains(got[0], "upstream files:") {
		t.Errorf("want the upstream's refusal only, got %q", got)
	}
	_, err = parse(t, "tenant: acme\nupstreams:\n  - name: crm\n    command: [crm]\n    allow_plain_http: true\n")
	if diff := cmp.Diff([]string{"t.yaml:5: upstreams[0].allow_plain_http: only goes with url"}, problems(t, err)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
