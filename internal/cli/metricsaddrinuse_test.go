package cli_test

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMetricsAddrInUse: a --metrics-addr already taken is refused before
// anything starts (no store opened, so no data folder made), with a
// message naming --metrics-addr, not --addr: it used to be found only
// once the store, the keys and the gateway's upstreams had been opened,
// and the message said to choose another --addr.
func TestMetricsAddrInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	data := filepath.Join(t.TempDir(), "data")
	r := run(t, nil, "", "serve", "--addr", "127.0.0.1:0", "--metrics-addr", ln.Addr().String(), "--data", data)
	if r.code != 1 || !strings.Contains(r.stderr, "already in use") || !strings.Contains(r.stderr, "--metrics-addr") ||
		strings.Contains(r.stderr, "with --addr") {
		t.Errorf("metrics address in use: exit %d, %q", r.code, r.stderr)
	}
	if _, err := os.Stat(data); err == nil {
		t.Errorf("the data folder was made before the metrics address was found taken")
	}
}
