//go:build linux

package gateway_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/gatehouse/gatehouse/internal/store"
)

// environSecret names the variable that holds, in the gateway run by
// TestStdioUpstreamCannotReadGatewayEnviron, the secret its upstream must
// not find.
const environSecret = "GATEHOUSE_TEST_ENVIRON_SECRET"

// TestStdioUpstreamCannotReadGatewayEnviron: a stdio upstream, which runs
// as the gateway's user, cannot read the gateway's environment from
// /proc/<its parent>/environ. The gateway runs in a process of its own
// whose environment holds a secret; as root (which reads any process's
// environment) that process and its upstream run as nobody.
func TestStdioUpstreamCannotReadGatewayEnviron(t *testing.T) {
	if secret := os.Getenv(environSecret); secret != "" {
		upstreamReadsGatewayEnviron(t, secret)
		return
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	secret := rand.Text()
	var cred *syscall.Credential
	env := append(os.Environ(), environSecret+"="+secret)
	dir := ""
	if os.Geteuid() == 0 {
		// The test binary's own folder is root's alone: a copy nobody
		// may run, and a temporary folder nobody may write to.
		dir, err = os.MkdirTemp("", "gatehouse-environ-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		exe = copyExecutable(t, exe, filepath.Join(dir, "gateway.test"))
		tmp := filepath.Join(dir, "tmp")
		if err := os.Mkdir(tmp, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(tmp, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		env = append(env, "TMPDIR="+tmp, "HOME="+tmp)
		dir = tmp
		cred = &syscall.Credential{Uid: 65534, Gid: 65534}
	}
	cmd := exec.Command(exe, "-test.run=^TestStdioUpstreamCannotReadGatewayEnviron$", "-test.count=1", "-test.v")
	cmd.Env, cmd.Dir = env, dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	out, err := cmd.CombinedOutput()
	switch {
	case cred != nil && errors.Is(err, syscall.EPERM):
		t.Skipf("running as root, and the gateway cannot be run as uid 65534 (%v): root reads any process's environment, so there is nothing to test", err)
	case bytes.Contains(out, []byte("--- SKIP")):
		t.Skipf("the gateway's process skipped:\n%s", out)
	case err != nil || !bytes.Contains(out, []byte("--- PASS")):
		t.Errorf("the gateway's process (%v):\n%s", err, out)
	default:
		t.Logf("the gateway's process:\n%s", out)
	}
}

// upstreamReadsGatewayEnviron runs a gateway whose stdio upstream copies
// /proc/$PPID/environ before it serves.
func upstreamReadsGatewayEnviron(t *testing.T, secret string) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	seen := filepath.Join(t.TempDir(), "environ")
	command := []string{"sh", "-c", `cat /proc/$PPID/environ > "$1"; exec "$0" -gatehouse-test-upstream`, exe, seen}
	e := newEnv(t, envOptions{tools: upstreamTools("sales-manager"), upstreams: []store.Upstream{{Name: "up", Command: command}}})
	waitFor(t, "the stdio upstream", connected(e, "up"))
	b, err := os.ReadFile(seen)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte(secret)) {
		t.Errorf("the stdio upstream read the gateway's secret in /proc/<its parent>/environ")
	} else if len(b) > 0 {
		t.Errorf("the stdio upstream read %d bytes of /proc/<its parent>/environ, want none", len(b))
	}
}

// copyExecutable copies the program at from to a new file to, which
// anyone may run, and returns to.
func copyExecutable(t *testing.T, from, to string) string {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	return to
}
