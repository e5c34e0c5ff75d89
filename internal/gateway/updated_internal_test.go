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

// TestTakeTurnOneRoundPerURI: while a round passes a URI on, another
// round's notice of the same URI waits its turn (or for its context to
// end), one of another URI does not, and the round passing a URI on is
// the one guardResourceUpdated finds; once none is, nothing is kept of
// the URI.
func TestTakeTurnOneRoundPerURI(t *testing.T) {
	g := &Gateway{}
	ctx := context.Background()
	a, b := &updateRound{from: "a"}, &updateRound{from: "b"}
	const x, y = "file:///x", "file:///y"

	releaseA, ok := g.takeTurn(ctx, a, x)
	if !ok {
		t.Fatal("a did not get the turn of a URI nobody passes on")
	}
	releaseY, ok := g.takeTurn(ctx, b, y)
	if !ok || g.passingOn(y) != b || g.passingOn(x) != a {
		t.Fatalf("b passing %s on while a passes %s on: ok %v, found %v and %v", y, x, ok, g.passingOn(y), g.passingOn(x))
	}
	releaseY()

	// The same URI: b waits for a.
	turn := make(chan func())
	go func() {
		release, ok := g.takeTurn(ctx, b, x)
		if !ok {
			release = nil
		}
		turn <- release
	}()
	// One whose context ends meanwhile gives up.
	cctx, cancel := context.WithCancel(ctx)
	gaveUp := make(chan bool)
	go func() {
		_, ok := g.takeTurn(cctx, &updateRound{from: "c"}, x)
		gaveUp <- !ok
	}()
	cancel()
	if !<-gaveUp {
		t.Error("a round whose context ended got the turn while a still held it")
	}
	select {
	case <-turn:
		t.Fatal("b got the turn of a URI a still passes on")
	default:
	}
	if r := g.passingOn(x); r != a {
		t.Fatalf("while a passes %s on, the round found is %v", x, r)
	}
	releaseA()
	releaseB := <-turn
	if releaseB == nil {
		t.Fatal("b never got the turn")
	}
	if r := g.passingOn(x); r != b {
		t.Fatalf("while b passes %s on, the round found is %v", x, r)
	}
	releaseB()
	if g.passingOn(x) != nil || len(g.updating) != 0 {
		t.Errorf("nothing passes on, and %d URIs are kept", len(g.updating))
	}
}
