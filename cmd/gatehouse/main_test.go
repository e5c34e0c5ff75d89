package main_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gatehouse-bin-")
	if err != nil {
		panic(err)
	}
	bin = filepath.Join(dir, "gatehouse")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startDemo runs 'gatehouse demo' and waits for its banner.
func startDemo(t *testing.T, data, addr string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(bin, "demo", "--data", data, "--addr", addr)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var banner strings.Builder
	sc := bufio.NewScanner(out)
	deadline := time.AfterFunc(30*time.Second, func() { cmd.Process.Kill() })
	defer deadline.Stop()
	for sc.Scan() {
		banner.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), "Stop with Ctrl-C") {
			go io.Copy(io.Discard, out)
			return cmd, banner.String()
		}
	}
	t.Fatalf("demo did not start:\n%s", banner.String())
	return nil, ""
}

func stop(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	cmd.Process.Signal(syscall.SIGTERM)
	errc := make(chan error, 1)
	go func() { errc <- cmd.Wait() }()
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("after SIGTERM: %v (want exit 0)", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("did not stop within 20 s of SIGTERM")
	}
}

func TestDemoSeedsOnceAndKeepsState(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	addr := freeAddr(t)
	cmd, banner := startDemo(t, data, addr)
	for _, want := range []string{"Seeded the demo tenant", "http://" + addr + "/mcp", "alice", "bob", "admin", "mcp-remote"} {
		if !strings.Contains(banner, want) {
			t.Errorf("banner misses %q:\n%s", want, banner)
		}
	}
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("readyz: %v %v", resp, err)
	}
	resp.Body.Close()
	stop(t, cmd)

	// A change made between runs survives, and the demo is not re-seeded.
	if out, err := exec.Command(bin, "role", "add", "auditor", "--data", data).CombinedOutput(); err != nil {
		t.Fatalf("role add: %v %s", err, out)
	}
	cmd, banner = startDemo(t, data, addr)
	if strings.Contains(banner, "Seeded") {
		t.Errorf("the demo was seeded again:\n%s", banner)
	}
	stop(t, cmd)
	out, err := exec.Command(bin, "role", "list", "--data", data).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "auditor") || !strings.Contains(string(out), "sales-manager") {
		t.Errorf("state lost across restarts: %v\n%s", err, out)
	}
	users, _ := exec.Command(bin, "user", "list", "--data", data).CombinedOutput()
	for _, u := range []string{"alice", "bob", "admin"} {
		if !strings.Contains(string(users), u) {
			t.Errorf("demo user %s missing:\n%s", u, users)
		}
	}
	tools, _ := exec.Command(bin, "tool", "list", "--data", data).CombinedOutput()
	if !strings.Contains(string(tools), "sales_report") || !strings.Contains(string(tools), "payroll_report") {
		t.Errorf("demo tools:\n%s", tools)
	}
}

// TestRealTenantOverTheDemo: a tenant file applied over a data folder the
// demo seeded is refused, changing nothing, unless it prunes: the demo's
// people would stay, its admin with the password the README publishes.
// Nor one that keeps a demo user without giving a password. With --prune
// they go, and later applies need no --prune.
func TestRealTenantOverTheDemo(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	cmd, _ := startDemo(t, data, freeAddr(t))
	stop(t, cmd)
	tenant := filepath.Join(t.TempDir(), "corp.yaml")
	if err := os.WriteFile(tenant, []byte("tenant: corp\nusers:\n  - username: carol\n    password: \"carol's real password\"\n    roles: [admin]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	users := func() string {
		out, err := exec.Command(bin, "user", "list", "--data", data).CombinedOutput()
		if err != nil {
			t.Fatalf("user list: %v %s", err, out)
		}
		return string(out)
	}
	out, err := exec.Command(bin, "apply", "-f", tenant, "--data", data).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "holds the demo tenant") || !strings.Contains(string(out), "--prune") {
		t.Errorf("apply over the demo: %v\n%s", err, out)
	}
	if u := users(); strings.Contains(u, "carol") || !strings.Contains(u, "admin") {
		t.Errorf("the refused apply changed the users:\n%s", u)
	}
	// Keeping a demo user without a password would keep the published
	// one: refused, even with --prune, changing nothing.
	keeper := filepath.Join(t.TempDir(), "keeper.yaml")
	if err := os.WriteFile(keeper, []byte("tenant: corp\nusers:\n  - username: admin\n    roles: [admin]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = exec.Command(bin, "apply", "--prune", "-f", keeper, "--data", data).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "keeps the demo's user admin without a password") {
		t.Errorf("apply --prune keeping admin without a password: %v\n%s", err, out)
	}
	if u := users(); strings.Contains(u, "carol") || !strings.Contains(u, "alice") {
		t.Errorf("the refused apply changed the users:\n%s", u)
	}
	if out, err := exec.Command(bin, "apply", "--prune", "-f", tenant, "--data", data).CombinedOutput(); err != nil {
		t.Fatalf("apply --prune: %v\n%s", err, out)
	}
	for _, l := range strings.Split(users(), "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] != "USERNAME" && f[0] != "carol" {
			t.Errorf("a demo user stayed: %s", l)
		}
	}
	if out, err := exec.Command(bin, "apply", "-f", tenant, "--data", data).CombinedOutput(); err != nil {
		t.Errorf("apply after the prune: %v\n%s", err, out)
	}
}
