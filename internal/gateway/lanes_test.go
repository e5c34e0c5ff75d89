package gateway

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/store"
)

// A call goes through the shared session when it cannot have a lane: a
// stdio upstream, an unnamed caller, maxLanes open, or a lane that failed
// to open within laneRetry. (Opening and closing lanes is driven end to
// end in relays_test.go.)
func TestLaneForFallsBackToTheSharedSession(t *testing.T) {
	u := &upstreams{}
	shared := func(cfg store.Upstream) *upConn {
		return &upConn{cfg: cfg, ctx: context.Background(), session: &mcp.ClientSession{}}
	}
	ctx := context.Background()

	if c := shared(store.Upstream{Name: "s", Command: []string{"srv"}}); u.laneFor(ctx, c, "alice\x00agent") != c {
		t.Error("a stdio upstream got a lane")
	}
	httpUp := store.Upstream{Name: "h", URL: "http://127.0.0.1:1/mcp"}
	if c := shared(httpUp); u.laneFor(ctx, c, "") != c {
		t.Error("an unnamed caller got a lane")
	}

	full := shared(httpUp)
	full.byCaller = map[string]*upConn{}
	for i := range maxLanes {
		l := &upConn{cfg: httpUp}
		l.ready = make(chan struct{})
		close(l.ready)
		full.byCaller[fmt.Sprint("caller", i)] = l
	}
	full.sweepAt = time.Now().Add(time.Hour) // no idle sweep in this test
	if u.laneFor(ctx, full, "one more") != full || len(full.byCaller) != maxLanes {
		t.Errorf("with %d lanes open a new caller got a lane of its own (%d now)", maxLanes, len(full.byCaller))
	}

	failed := shared(httpUp)
	failed.failedAt = time.Now()
	if u.laneFor(ctx, failed, "alice\x00agent") != failed || len(failed.byCaller) != 0 {
		t.Error("a lane was tried again right after one failed to open")
	}
}
