package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/server"
)

// Gatehouse is a running server for a test.
type Gatehouse struct {
	URL    string // the issuer, e.g. http://127.0.0.1:40123
	Server *server.Server
	Data   string // the data folder

	stop func() error
}

// Stop tells the server to stop, as SIGTERM does, and returns what its
// Serve returned (nil for a clean stop within its grace period). The test's
// end stops it too, if the test did not.
func (g *Gatehouse) Stop() error { return g.stop() }

// Options of Start. The zero value serves the tenant file on SQLite.
type Options struct {
	// Postgres, when set, is a postgres:// URL to use instead of SQLite.
	Postgres string
	// Tweak, when set, changes the server options before the start.
	Tweak func(*server.Options)
	// IssuerPath, when set (e.g. /tenants/acme), is the path of the
	// issuer, which is otherwise the listening address's root.
	IssuerPath string
}

// Start applies tenantYAML to a new store and serves it on a loopback
// port until the test ends.
func Start(t testing.TB, tenantYAML string, o *Options) *Gatehouse {
	t.Helper()
	if o == nil {
		o = &Options{}
	}
	data := t.TempDir()
	so := server.Options{
		Store:                     server.StoreOptions{DataDir: data, DatabaseURL: o.Postgres},
		AllowPrivateMetadataHosts: true, // every peer of these tests is on loopback
	}
	if o.Tweak != nil {
		o.Tweak(&so)
	}
	ctx := context.Background()
	f, err := config.Parse(strings.NewReader(tenantYAML), "tenant.yaml")
	if err != nil {
		t.Fatal(err)
	}
	st, err := server.OpenStore(ctx, so.Store)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Validate(builtins()); err != nil {
		t.Fatal(err)
	}
	if _, err := config.Apply(ctx, st, f, config.Argon2, nil); err != nil {
		t.Fatal(err)
	}
	st.Close()

	ln, err := server.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if o.IssuerPath != "" {
		so.Issuer = "http://" + ln.Addr().String() + o.IssuerPath
	}
	s, err := server.New(ctx, so, ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	ready := make(chan struct{})
	so.OnListen = func(string) { close(ready) }
	so.ShutdownTimeout = 5 * time.Second
	go func() { done <- s.Serve(sctx, ln, so) }()
	<-ready
	stop := sync.OnceValue(func() error {
		cancel()
		return <-done
	})
	t.Cleanup(func() {
		stop()
		s.Close()
	})
	return &Gatehouse{URL: s.Issuer, Server: s, Data: data, stop: stop}
}

// InteropDir is the folder of the npm peers.
func InteropDir(t testing.TB) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "interop")
}

// Require skips the test when a peer is missing, or fails it under CI=true,
// where every peer is required.
func Require(t testing.TB, ok bool, peer, how string) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("required peer %s is missing under CI=true: %s", peer, how)
	}
	t.Skipf("peer %s is missing (%s): skipping", peer, how)
}

// Node22 returns the Node 22 binary of the interop packages, skipping (or
// failing under CI) when they are not installed.
func Node22(t testing.TB) string {
	t.Helper()
	node := filepath.Join(InteropDir(t), "node_modules", "node", "bin", "node")
	_, err := os.Stat(node)
	Require(t, err == nil, "node@22 (interop/node_modules)", "run 'npm ci' in interop/, or 'make test'")
	return node
}

// RunNode runs an interop script with Node 22 and returns its stdout. The
// script's stderr is logged on failure.
func RunNode(t testing.TB, timeout time.Duration, env []string, script string, args ...string) (string, error) {
	t.Helper()
	node := Node22(t)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, append([]string{script}, args...)...)
	cmd.Dir = InteropDir(t)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		t.Logf("%s stderr:\n%s", script, stderr.String())
	}
	return stdout.String(), err
}

// Register registers an app at g as one registers itself (RFC 7591) with
// the JSON metadata doc, and returns its client ID.
func Register(t testing.TB, g *Gatehouse, doc string) string {
	t.Helper()
	resp, err := http.Post(g.URL+"/register", "application/json", strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var client struct {
		ClientID string `json:"client_id"`
	}
	json.NewDecoder(resp.Body).Decode(&client)
	if resp.StatusCode != http.StatusCreated || client.ClientID == "" {
		t.Fatalf("registration: %d %+v", resp.StatusCode, client)
	}
	return client.ClientID
}
