package gateway

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// TestPendingUpdatesBounded: notices of a URI already pending cost
// nothing; past the bound of distinct URIs (or of their bytes) a notice is
// dropped, with one warning for the lot; once the connection ends, nothing
// is noted.
func TestPendingUpdatesBounded(t *testing.T) {
	oldN, oldB := maxPendingUpdates, maxPendingUpdateBytes
	maxPendingUpdates, maxPendingUpdateBytes = 100, 1000
	t.Cleanup(func() { maxPendingUpdates, maxPendingUpdateBytes = oldN, oldB })
	var logs bytes.Buffer
	p := newPendingUpdates(context.Background(), nil, "up", slog.New(slog.NewTextHandler(&logs, nil)))
	p.running = true // as if delivering: nothing is taken meanwhile

	for range 1000 {
		p.note("file:///a")
	}
	if len(p.uris) != 1 || p.bytes != len("file:///a") {
		t.Fatalf("1000 notices of one URI: %d pending, %d bytes", len(p.uris), p.bytes)
	}
	for i := range 500 {
		p.note(fmt.Sprintf("file:///%d", i))
	}
	if len(p.uris) != 100 {
		t.Errorf("500 more URIs: %d pending, want the bound of 100", len(p.uris))
	}
	if n := strings.Count(logs.String(), "level=WARN"); n != 1 {
		t.Errorf("%d warnings of notices dropped, want 1:\n%s", n, logs.String())
	}

	p.uris, p.pending, p.bytes = nil, map[string]bool{}, 0
	p.note("file:///" + strings.Repeat("x", 1000))
	if len(p.uris) != 0 {
		t.Errorf("a URI past the bound of bytes is pending")
	}

	p.stop()
	p.note("file:///b")
	if len(p.uris) != 0 {
		t.Errorf("a notice after the connection ended is pending")
	}
}
