package server

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// stuckCollector holds every scrape inside Collect until release is
// closed, saying on entered that one came in (until then): a scrape
// whose store read is slow.
type stuckCollector struct {
	desc    *prometheus.Desc
	entered chan struct{}
	release chan struct{}
}

func (c *stuckCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *stuckCollector) Collect(ch chan<- prometheus.Metric) {
	select {
	case c.entered <- struct{}{}:
	case <-c.release: // once released, none is held
	}
	<-c.release
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, 1)
}

// serveWithMetrics starts a server with /metrics at an operators'
// listener of its own and returns it with that /metrics URL.
func serveWithMetrics(t *testing.T, o Options) (*Server, string) {
	t.Helper()
	ln, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mln, err := ListenMetrics("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o.Store = StoreOptions{DataDir: t.TempDir()}
	o.MetricsListener = mln
	s, err := New(context.Background(), o, ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan struct{}), make(chan error, 1)
	o.OnListen = func(string) { close(ready) }
	go func() { done <- s.Serve(ctx, ln, o) }()
	<-ready
	t.Cleanup(func() {
		cancel()
		<-done
		s.Close()
		mln.Close()
	})
	return s, "http://" + mln.Addr().String() + "/metrics"
}

// TestMetricsScrapesBounded: whoever reaches --metrics-addr (no token)
// cannot start scrapes without bound, each reading the audit head from
// the store: past metricsInFlight at once, a scrape is answered 503 at
// once, and the ones in flight still finish. The admins' /metrics at the
// issuer is built by the same metricsHandler, with its own bound. It used
// to start every scrape asked for.
func TestMetricsScrapesBounded(t *testing.T) {
	s, url := serveWithMetrics(t, Options{})
	c := &stuckCollector{desc: prometheus.NewDesc("test_stuck", "A scrape held open.", nil, nil),
		entered: make(chan struct{}), release: make(chan struct{})}
	s.registry.MustRegister(c)

	type answer struct {
		status int
		body   string
		err    error
	}
	held := make(chan answer, metricsInFlight)
	scrape := func() answer {
		resp, err := http.Get(url)
		if err != nil {
			return answer{err: err}
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return answer{resp.StatusCode, string(b), err}
	}
	for range metricsInFlight {
		go func() { held <- scrape() }()
	}
	deadline := time.After(10 * time.Second)
	for i := range metricsInFlight {
		select {
		case <-c.entered:
		case <-deadline:
			t.Fatalf("%d of %d scrapes in flight after 10 s", i, metricsInFlight)
		}
	}
	// One more while all are held: refused, not started (it would block
	// in Collect, and this test with it, were it started).
	extra := make(chan answer, 1)
	go func() { extra <- scrape() }()
	select {
	case a := <-extra:
		if a.err != nil || a.status != http.StatusServiceUnavailable {
			t.Errorf("scrape past the bound: %d %v, want 503\n%.200s", a.status, a.err, a.body)
		}
	case <-c.entered:
		t.Errorf("a scrape past the bound of %d was started", metricsInFlight)
		go func() { <-extra }()
	case <-time.After(10 * time.Second):
		t.Errorf("a scrape past the bound was neither refused nor started after 10 s")
	}
	close(c.release)
	for range metricsInFlight {
		if a := <-held; a.err != nil || a.status != 200 || !strings.Contains(a.body, "test_stuck 1") {
			t.Errorf("a scrape in flight: %d %v\n%.200s", a.status, a.err, a.body)
		}
	}
	// The slots are given back: a scrape now is answered in full.
	if a := scrape(); a.status != 200 || !strings.Contains(a.body, "gatehouse_") {
		t.Errorf("a scrape after the others ended: %d %v\n%.200s", a.status, a.err, a.body)
	}
}

// TestMetricsAddrReadTimeout: a client at --metrics-addr that sends a
// request and then only part of the body it announced does not hold the
// connection open forever: the server drops it once the read timeout
// (BodyReadTimeout) passes. It used to wait for the rest as long as the
// client liked.
func TestMetricsAddrReadTimeout(t *testing.T) {
	_, url := serveWithMetrics(t, Options{BodyReadTimeout: 200 * time.Millisecond})
	addr := strings.TrimSuffix(strings.TrimPrefix(url, "http://"), "/metrics")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nx"); err != nil {
		t.Fatal(err)
	}
	// The test's own bound on the wait: far past the server's timeout.
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	// Whatever the server answers (it reads the rest of a short body
	// before answering), it ends with the connection closed.
	_, err = io.Copy(io.Discard, conn)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("the connection of a client that stalled mid-body is still open after 10 s")
	}
	if err != nil && !strings.Contains(err.Error(), "reset") {
		t.Errorf("after the answer: %v, want the connection closed", err)
	}
}
