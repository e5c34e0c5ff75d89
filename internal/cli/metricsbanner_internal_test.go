package cli

import (
	"bytes"
	"context"
	"flag"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/server"
)

// TestMetricsWhereTheyAre: the demo's banner and the --metrics-addr help
// say what the server does, /metrics at the issuer for the admins, rather
// than that metrics are off without --metrics-addr.
func TestMetricsWhereTheyAre(t *testing.T) {
	const issuer = "http://127.0.0.1:8080"
	bound := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9090}
	for _, a := range []net.Addr{nil, bound} {
		got := metricsLocation(issuer, a)
		if strings.Contains(got, "off") || !strings.Contains(got, issuer+"/metrics") {
			t.Errorf("banner with --metrics-addr bound at %v: %q", a, got)
		}
	}
	if got := metricsLocation(issuer, bound); !strings.Contains(got, "http://127.0.0.1:9090/metrics") {
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

// TestDemoBannerMetricsBound: the demo's banner names the address
// --metrics-addr bound, one a scraper can be pointed at, not the flag as
// typed: port 0 printed ":0" and ":9090" printed "http://:9090/metrics".
// The URL it prints answers /metrics.
func TestDemoBannerMetricsBound(t *testing.T) {
	var out bytes.Buffer
	env := &Env{Stdout: &out, Stderr: &out, Stdin: strings.NewReader(""), Getenv: func(string) string { return "" }}
	data := server.StoreOptions{DataDir: t.TempDir()}
	o := server.Options{Addr: "127.0.0.1:0", Store: data, MetricsAddr: "127.0.0.1:0"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var banner bytes.Buffer
	status := 0
	err := serve(ctx, env, o, func(context.Context, *server.Server) error { return nil }, func(s *server.Server, metrics net.Addr) {
		defer cancel()
		demoBanner(&banner, s, data, metrics)
		m := regexp.MustCompile(`Metrics: +(http://\S+/metrics)`).FindStringSubmatch(banner.String())
		if m == nil {
			return
		}
		resp, err := http.Get(m[1])
		if err != nil {
			t.Errorf("GET %s: %v", m[1], err)
			return
		}
		resp.Body.Close()
		status = resp.StatusCode
	})
	if err != nil {
		t.Fatal(err)
	}
	if status != http.StatusOK || strings.Contains(banner.String(), ":0/metrics") {
		t.Errorf("the banner's metrics URL answered %d:\n%s", status, banner.String())
	}
}
