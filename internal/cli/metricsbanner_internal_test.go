package cli

import (
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/server"
)

// TestMetricsWhereTheyAre: the demo's banner and the --metrics-addr help
// say what the server does, /metrics at the issuer for the admins, rather
// than that metrics are off without --metrics-addr.
func TestMetricsWhereTheyAre(t *testing.T) {
	const issuer = "http://127.0.0.1:8080"
	for _, o := range []server.Options{{}, {MetricsAddr: "127.0.0.1:9090"}} {
		got := metricsLocation(issuer, o)
		if strings.Contains(got, "off") || !strings.Contains(got, issuer+"/metrics") {
			t.Errorf("banner with --metrics-addr %q: %q", o.MetricsAddr, got)
		}
	}
	if got := metricsLocation(issuer, server.Options{MetricsAddr: "127.0.0.1:9090"}); !strings.Contains(got, "http://127.0.0.1:9090/metrics") {
		t.Errorf("banner with --metrics-addr: %q", got)
	}
	var f serveFlags
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f.declare(fs, true)
	if u := fs.Lookup("metrics-addr").Usage; strings.Contains(u, "no metrics") || !strings.Contains(u, "admins") {
		t.Errorf("--metrics-addr help: %q", u)
	}
}
