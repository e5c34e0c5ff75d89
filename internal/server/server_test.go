package server_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/server"
	"github.com/gatehouse/gatehouse/internal/store/storetest"
)

func start(t *testing.T, o server.Options) (*server.Server, string, context.CancelFunc, chan error) {
	t.Helper()
	ln, err := server.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// Metrics at an operators' address of their own, found by
	// metricsURL, unless the test asks for none ("-").
	metricsAddr := o.MetricsAddr
	switch o.MetricsAddr {
	case "-":
		o.MetricsAddr, metricsAddr = "", ""
	case "":
		mln, err := server.Listen("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { mln.Close() })
		o.MetricsListener, metricsAddr = mln, mln.Addr().String()
	}
	metricsAt.Store("http://"+ln.Addr().String(), "http://"+metricsAddr+"/metrics")
	s, err := server.New(context.Background(), o, ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ready := make(chan struct{})
	o.OnListen = func(string) { close(ready) }
	go func() { done <- s.Serve(ctx, ln, o) }()
	<-ready
	return s, "http://" + ln.Addr().String(), cancel, done
}

// metricsAt maps a started server's base URL to its /metrics URL.
var metricsAt sync.Map

// metricsURL is the /metrics URL of the server started at base.
func metricsURL(base string) string {
	u, _ := metricsAt.Load(base)
	return u.(string)
}

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := server.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func get(t *testing.T, url string) (int, string, http.Header) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func TestOperations(t *testing.T) {
	var logs bytes.Buffer
	o := server.Options{Store: server.StoreOptions{DataDir: t.TempDir()},
		Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	_, base, cancel, done := start(t, o)
	defer func() { cancel(); <-done }()

	if code, body, h := get(t, base+"/healthz"); code != 200 || body != "ok\n" || h.Get("X-Request-Id") == "" {
		t.Errorf("healthz: %d %q, request id %q", code, body, h.Get("X-Request-Id"))
	}
	if code, body, _ := get(t, base+"/readyz"); code != 200 || body != "ready\n" {
		t.Errorf("readyz: %d %q", code, body)
	}
	get(t, base+"/nowhere?code=secret-code-value")
	code, body, h := get(t, metricsURL(base))
	if code != 200 || !strings.Contains(body, `gatehouse_http_requests_total{code="200",route="GET /healthz"} 1`) ||
		!strings.Contains(body, `route="unmatched"`) {
		t.Errorf("metrics: %d\n%s", code, body)
	}
	if h.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("metrics at the operators' address: X-Content-Type-Options %q, want nosniff", h.Get("X-Content-Type-Options"))
	}
	if !strings.Contains(logs.String(), `"request_id":`) {
		t.Errorf("logs carry no request id:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), "secret-code-value") {
		t.Errorf("a query string reached the logs")
	}
}

// A store that answers but refuses writes (a full disk; a read-only
// standby behind the connection's address) makes the replica not ready:
// it would refuse every call and sign-in. Simulated by a trigger that
// refuses what the probe writes, on both engines; once it is gone the
// replica is ready again.
func TestReadyzFailsWhenStoreRefusesWrites(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			o := server.Options{Store: server.StoreOptions{DataDir: t.TempDir()}}
			refuse := []string{`CREATE TRIGGER refuse_writes BEFORE INSERT ON consumed BEGIN SELECT RAISE(ABORT, 'disk full'); END`}
			if b.Name == "postgres" {
				o.Store.DatabaseURL = storetest.PostgresSchema(t)
				refuse = []string{
					`CREATE FUNCTION refuse_writes() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'disk full'; END $$ LANGUAGE plpgsql`,
					`CREATE TRIGGER refuse_writes BEFORE INSERT ON consumed FOR EACH ROW EXECUTE FUNCTION refuse_writes()`,
				}
			}
			s, base, cancel, done := start(t, o)
			defer func() { cancel(); <-done }()
			readyz := func(want int, body string) {
				t.Helper()
				deadline := time.Now().Add(5 * time.Second) // past the probe's outcome kept a second
				for {
					code, got, _ := get(t, base+"/readyz")
					if code == want && got == body {
						return
					}
					if time.Now().After(deadline) {
						t.Fatalf("readyz: %d %q, want %d %q", code, got, want, body)
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
			readyz(200, "ready\n")
			for _, q := range refuse {
				if _, err := s.Store.SQL().Exec(q); err != nil {
					t.Fatal(err)
				}
			}
			readyz(http.StatusServiceUnavailable, "store refuses writes\n")
			if _, err := s.Store.SQL().Exec("DROP TRIGGER refuse_writes" + map[string]string{"postgres": " ON consumed"}[b.Name]); err != nil {
				t.Fatal(err)
			}
			readyz(200, "ready\n")
		})
	}
}

// /readyz answers anyone: its write to the store is made at most once a
// second, however often it is asked.
func TestReadyzWritesAtMostOnceASecond(t *testing.T) {
	s, base, cancel, done := start(t, server.Options{Store: server.StoreOptions{DataDir: t.TempDir()}})
	defer func() { cancel(); <-done }()
	start := time.Now()
	for range 50 {
		if code, _, _ := get(t, base+"/readyz"); code != 200 {
			t.Fatalf("readyz: %d", code)
		}
	}
	var n int
	if err := s.Store.SQL().QueryRow("SELECT COUNT(*) FROM consumed WHERE kind = 'readiness'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if most := int(time.Since(start)/time.Second) + 1; n < 1 || n > most {
		t.Errorf("%d probe writes for 50 requests in %v, want 1 to %d", n, time.Since(start), most)
	}
}

// The write probe's outcome is every caller's for a second: a caller that
// hangs up while the probe waits for its turn to write (SQLite's one
// writer, busy with the audit trail) does not end the probe and have the
// replica answer "store refuses writes" to the next callers.
func TestReadyzNotFailedByACallerHangingUp(t *testing.T) {
	s, base, cancel, done := start(t, server.Options{Store: server.StoreOptions{DataDir: t.TempDir()}})
	defer func() { cancel(); <-done }()
	// The database's write turn held, as by a long write of the trail.
	held, release := make(chan struct{}), make(chan struct{})
	writing := make(chan error, 1)
	go func() {
		writing <- s.Store.Tx(context.Background(), func(*sql.Tx) error {
			close(held)
			<-release
			return nil
		})
	}()
	<-held
	ctx, hangUp := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer hangUp()
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/readyz", nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("readyz answered %d while the write turn was held", resp.StatusCode)
	}
	time.Sleep(200 * time.Millisecond) // the server sees the caller gone
	close(release)
	if err := <-writing; err != nil {
		t.Fatal(err)
	}
	if code, body, _ := get(t, base+"/readyz"); code != 200 || body != "ready\n" {
		t.Errorf("readyz once the write turn is free: %d %q, want 200 ready", code, body)
	}
}

func TestReadyzFailsWhenStoreIsGone(t *testing.T) {
	s, base, cancel, done := start(t, server.Options{Store: server.StoreOptions{DataDir: t.TempDir()}})
	defer func() { cancel(); <-done }()
	s.Store.SQL().Close()
	if code, body, _ := get(t, base+"/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "unreachable") {
		t.Errorf("readyz with a closed store: %d %q", code, body)
	}
	if code, _, _ := get(t, base+"/healthz"); code != 200 {
		t.Errorf("healthz should not depend on the store: %d", code)
	}
}

// TestGracefulShutdown: a request in flight when the server is told to stop
// still gets its whole answer, and Serve returns nil afterwards.
func TestGracefulShutdown(t *testing.T) {
	ln, err := server.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := server.Options{Store: server.StoreOptions{DataDir: t.TempDir()}}
	s, err := server.New(context.Background(), o, ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	inner := s.Handler
	entered := make(chan struct{})
	s.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(entered)
			time.Sleep(300 * time.Millisecond)
			io.WriteString(w, "finished")
			return
		}
		inner.ServeHTTP(w, r)
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln, o) }()
	type answer struct {
		body string
		err  error
	}
	got := make(chan answer, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String() + "/slow")
		if err != nil {
			got <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		got <- answer{string(b), err}
	}()
	<-entered
	cancel()
	a := <-got
	if a.err != nil || a.body != "finished" {
		t.Errorf("in-flight request: %q, %v", a.body, a.err)
	}
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
	if _, err := http.Get("http://" + ln.Addr().String() + "/healthz"); err == nil {
		t.Errorf("a new request was served after shutdown")
	}
}

// A client that sends a request's headers and then trickles its body, or
// stops, is cut off once the body read timeout passes: it holds neither a
// connection nor a handler for longer.
func TestSlowBodyIsCutOff(t *testing.T) {
	o := server.Options{Store: server.StoreOptions{DataDir: t.TempDir()}, BodyReadTimeout: 300 * time.Millisecond}
	_, base, cancel, done := start(t, o)
	defer func() { cancel(); <-done }()

	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"+
		"Content-Length: 100\r\n\r\ngrant"); err != nil {
		t.Fatal(err)
	}
	// The rest of the body never comes. Without the timeout the server
	// waits for it forever; the test gives up after a minute.
	conn.SetReadDeadline(time.Now().Add(time.Minute))
	_, err = io.ReadAll(conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the server still waits for a body that never comes")
	}
}

// TestIssuerRefusals: an issuer that is not a plain http(s) URL is refused
// at start, and the message does not repeat user information, which every
// discovery document and token would otherwise have published.
func TestIssuerRefusals(t *testing.T) {
	for _, issuer := range []string{"ftp://id.example", "https://id.example/?x=1", "https://id.example/#f",
		"https://admin:s3cret-issuer-pw@id.example", "https://admin@id.example",
		"http://id.example", "http://10.0.0.7:8080", "http://localhost.id.example"} {
		_, err := server.New(context.Background(), server.Options{Issuer: issuer,
			Store: server.StoreOptions{DataDir: t.TempDir()}}, "127.0.0.1:1")
		if err == nil || !strings.Contains(err.Error(), "--issuer") {
			t.Errorf("%s: %v, want refused", issuer, err)
		} else if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "admin@") {
			t.Errorf("%s: the message repeats the user information: %v", issuer, err)
		}
	}
}

// TestIssuerOnPlainHTTP: plain http is taken for a loopback issuer
// (development, the demo) only.
func TestIssuerOnPlainHTTP(t *testing.T) {
	for _, issuer := range []string{"http://127.0.0.1:8080", "http://localhost:8080", "http://[::1]:8080", "https://id.example"} {
		s, err := server.New(context.Background(), server.Options{Issuer: issuer,
			Store: server.StoreOptions{DataDir: t.TempDir()}}, "127.0.0.1:1")
		if err != nil {
			t.Errorf("%s: %v", issuer, err)
			continue
		}
		s.Close()
	}
}

// TestMetricsAddr: /metrics is served without a token at the operators'
// address given (MetricsAddr, --metrics-addr), and at the public address
// only to an admin's token (TestMetricsAtTheIssuerForAdmins, e2e): the
// metrics name every upstream and how many callers use each.
func TestMetricsAddr(t *testing.T) {
	metricsAddr := freeAddr(t)
	_, base, cancel, done := start(t, server.Options{Store: server.StoreOptions{DataDir: t.TempDir()}, MetricsAddr: metricsAddr})
	defer func() { cancel(); <-done }()
	if status, body, _ := get(t, base+"/metrics"); status != http.StatusUnauthorized || strings.Contains(body, "gatehouse_") {
		t.Errorf("public /metrics without a token: %d, want 401\n%.300s", status, body)
	}
	if status, body, _ := get(t, "http://"+metricsAddr+"/metrics"); status != 200 || !strings.Contains(body, "gatehouse_") {
		t.Errorf("operators' /metrics: %d\n%.300s", status, body)
	}
	if status, _, _ := get(t, base+"/healthz"); status != 200 {
		t.Errorf("public /healthz: %d", status)
	}

	var logs bytes.Buffer
	_, base, cancel2, done2 := start(t, server.Options{Store: server.StoreOptions{DataDir: t.TempDir()}, MetricsAddr: "-",
		Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	defer func() { cancel2(); <-done2 }()
	if status, body, _ := get(t, base+"/metrics"); status != http.StatusUnauthorized || strings.Contains(body, "gatehouse_") {
		t.Errorf("public /metrics without --metrics-addr nor a token: %d\n%.300s", status, body)
	}
	if !strings.Contains(logs.String(), "--metrics-addr") {
		t.Errorf("the log does not say how to serve metrics:\n%s", logs.String())
	}
}

// TestShutdownHurried: once Options.Hurry is closed (a second SIGTERM),
// the shutdown stops waiting for the requests in flight: their contexts
// end, Serve returns at once, and says the stop was cut short.
func TestShutdownHurried(t *testing.T) {
	ln, err := server.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hurry := make(chan struct{})
	o := server.Options{Store: server.StoreOptions{DataDir: t.TempDir()}, ShutdownTimeout: time.Hour, Hurry: hurry}
	s, err := server.New(context.Background(), o, ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	entered, ended := make(chan struct{}), make(chan struct{})
	s.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-r.Context().Done()
		close(ended)
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln, o) }()
	go http.Get("http://" + ln.Addr().String() + "/stuck")
	<-entered
	cancel()
	select {
	case err := <-done:
		t.Fatalf("Serve returned %v before the request in flight ended", err)
	case <-time.After(200 * time.Millisecond):
	}
	close(hurry)
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "cut short") {
			t.Errorf("Serve: %v, want the shutdown cut short", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve still waiting for the request in flight after Hurry closed")
	}
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Error("the request in flight's context did not end")
	}
}
