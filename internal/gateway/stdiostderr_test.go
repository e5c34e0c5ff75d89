package gateway_test

import (
	"bytes"
	"log/slog"
	"os"
	"sync"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/internal/store"
)

// TestStdioUpstreamStderrEscapedInJSONLogs: what a stdio upstream writes
// to its stderr reaches the gateway's log (at debug) with the characters a
// terminal or log viewer acts on escaped, in the JSON log format too:
// slog's JSON handler escapes ESC and the other C0 controls, but writes
// DEL, the C1 controls (U+009B is CSI on its own) and format characters
// (a bidirectional override) as they are.
func TestStdioUpstreamStderrEscapedInJSONLogs(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{mu: &sync.Mutex{}}
	command := []string{"sh", "-c", `printf 'marker \302\23331m red \342\200\256 txet \177 end\n' >&2; exec "$0" -gatehouse-test-upstream`, exe}
	e := newEnv(t, envOptions{tools: upstreamTools("sales-manager"),
		upstreams: []store.Upstream{{Name: "up", Command: command}},
		logger:    slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	waitFor(t, "the stdio upstream", connected(e, "up"))
	var line []byte
	waitFor(t, "the upstream's stderr in the log", func() bool {
		logs.mu.Lock()
		defer logs.mu.Unlock()
		for _, l := range bytes.Split(logs.buf.Bytes(), []byte("\n")) {
			if bytes.Contains(l, []byte("marker")) {
				line = bytes.Clone(l)
				return true
			}
		}
		return false
	})
	t.Logf("%s", line)
	for _, r := range string(line) {
		if r == 0x7f || (r >= 0x80 && r <= 0x9f) || unicode.Is(unicode.Cf, r) || r == utf8.RuneError {
			t.Errorf("the log line holds %U as it is: %q", r, line)
		}
	}
	if !bytes.Contains(line, []byte(`end`)) {
		t.Errorf("the line lost its text: %q", line)
	}
}
