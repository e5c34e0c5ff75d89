//go:build linux

package gateway_test

import (
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/gatehouse/gatehouse/internal/store"
)

// The test binary also serves as a stdio upstream that first writes its
// open descriptors to the file named by its second argument.
func init() {
	if len(os.Args) > 2 && os.Args[1] == "-gatehouse-test-fds" {
		var b strings.Builder
		ents, _ := os.ReadDir("/proc/self/fd")
		for _, e := range ents {
			target, _ := os.Readlink("/proc/self/fd/" + e.Name())
			b.WriteString(e.Name() + " " + target + "\n")
		}
		os.WriteFile(os.Args[2]+".tmp", []byte(b.String()), 0o600)
		os.Rename(os.Args[2]+".tmp", os.Args[2])
		os.Args = os.Args[:1]
		runStdioUpstream()
		os.Exit(0)
	}
}

// TestStdioUpstreamInheritsNoDescriptors: a stdio upstream's process gets
// stdin, stdout and stderr, and none of the descriptors the gateway itself
// inherited without close-on-exec from whoever started it (a service
// manager, a wrapper script that opened the master key file on fd 3, as in
// "gatehouse serve 3<master.key"). Go opens its own files close-on-exec,
// but passes every inherited descriptor on to each program it starts; a
// third party's program, even one run as another user (setpriv --reuid, as
// README suggests), can then read the file through it.
func TestStdioUpstreamInheritsNoDescriptors(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	secret := t.TempDir() + "/master.key"
	if err := os.WriteFile(secret, []byte("the master key"), 0o600); err != nil {
		t.Fatal(err)
	}
	// As the gateway would hold a descriptor its parent opened for it:
	// without O_CLOEXEC.
	fd, err := syscall.Open(secret, syscall.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	out := t.TempDir() + "/fds"
	e := newEnv(t, envOptions{tools: upstreamTools("sales-manager"),
		upstreams: []store.Upstream{{Name: "up", Command: []string{exe, "-gatehouse-test-fds", out}}}})
	waitFor(t, "the stdio upstream", connected(e, "up"))
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the upstream's descriptors:\n%s", b)
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if strings.HasSuffix(line, " "+secret) {
			t.Errorf("the upstream holds the gateway's inherited descriptor %s (it can read the file)", line)
		}
	}
}
