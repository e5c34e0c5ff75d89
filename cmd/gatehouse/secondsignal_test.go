package main_test

import (
	"errors"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSecondSignalCutsShutdownShort: SIGTERM lets in-flight requests
// finish; a second SIGTERM (an operator's second Ctrl-C) cuts those still
// running instead of waiting out the shutdown's 30 s, and the server
// still closes its audit trail properly (it verifies after) and exits 1,
// the stop not having been a clean one. The second signal used to be
// swallowed: the process went on waiting, and the operator's way out was
// SIGKILL, which leaves the trail's closing undone.
func TestSecondSignalCutsShutdownShort(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	addr := freeAddr(t)
	cmd, _ := startDemo(t, data, addr)

	// A request in flight: its headers sent, its body not (it has 30 s).
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("POST /token HTTP/1.1\r\nHost: " + addr + "\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ngrant_type")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the request reaches its handler

	errc := make(chan error, 1)
	go func() { errc <- cmd.Wait() }()
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-errc:
		t.Fatalf("exited at the first SIGTERM with a request in flight: %v", err)
	case <-time.After(time.Second):
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-errc:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Errorf("after the second SIGTERM: %v, want exit 1", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("still running 15 s after a second SIGTERM")
	}
	out, err := exec.Command(bin, "audit", "verify", "--data", data).CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "OK") {
		t.Errorf("audit verify after the cut stop: %v\n%s", err, out)
	}
}
