package gateway

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/tools"
)

// A call goes through the shared session when it cannot have a lane: a
// stdio upstream without per_caller, an unnamed caller, maxLanes open and
// none idle, or a lane that failed to open within laneRetry. A per_caller
// upstream refuses such a call instead (a *laneError), and never hands out
// the shared session. (Opening and closing lanes is driven end to end in
// relays_test.go and percaller_test.go.)
func TestLaneForFallsBackToTheSharedSession(t *testing.T) {
	u := &upstreams{}
	shared := func(cfg store.Upstream) *upConn {
		return &upConn{cfg: cfg, ctx: context.Background(), session: &mcp.ClientSession{}}
	}
	ctx := context.Background()
	laneFor := func(c *upConn, caller string) (*upConn, error) {
		l, release, err := u.laneFor(ctx, c, caller)
		release()
		return l, err
	}
	refused := func(err error, policy string) bool {
		var lerr *laneError
		return errors.As(err, &lerr) && lerr.policy == policy
	}

	if c := shared(store.Upstream{Name: "s", Command: []string{"srv"}}); must(laneFor(c, "alice\x00agent")) != c {
		t.Error("a stdio upstream got a lane")
	}
	httpUp := store.Upstream{Name: "h", URL: "http://127.0.0.1:1/mcp"}
	perCaller := store.Upstream{Name: "p", Command: []string{"srv"}, PerCaller: true}
	if c := shared(httpUp); must(laneFor(c, "")) != c {
		t.Error("an unnamed caller got a lane")
	}
	if l, err := laneFor(shared(perCaller), ""); l != nil || !refused(err, PolicyLaneFailed) {
		t.Errorf("an unnamed caller of a per_caller upstream got %v, %v; want a refusal", l, err)
	}

	// Lanes still opening are busy: none can be closed for another's.
	full := func(cfg store.Upstream) *upConn {
		c := shared(cfg)
		c.byCaller = map[string]*upConn{}
		for i := range maxLanes {
			l := &upConn{cfg: cfg}
			l.ready = make(chan struct{})
			c.byCaller[fmt.Sprint("caller", i)] = l
		}
		c.sweepAt = time.Now().Add(time.Hour) // no idle sweep in this test
		return c
	}
	if c := full(httpUp); must(laneFor(c, "one more")) != c || len(c.byCaller) != maxLanes {
		t.Errorf("with %d lanes busy a new caller got a lane of its own (%d now)", maxLanes, len(c.byCaller))
	}
	if c := full(perCaller); func() bool { l, err := laneFor(c, "one more"); return l != nil || !refused(err, PolicyLanesBusy) }() {
		t.Errorf("with %d lanes busy a per_caller upstream did not refuse a new caller", maxLanes)
	}

	failed := shared(httpUp)
	failed.laneOpenFailed(time.Now())
	if must(laneFor(failed, "alice\x00agent")) != failed || len(failed.byCaller) != 0 {
		t.Error("a lane was tried again right after one failed to open")
	}
	failed = shared(perCaller)
	failed.laneOpenFailed(time.Now())
	if l, err := laneFor(failed, "alice\x00agent"); l != nil || !refused(err, PolicyLaneFailed) || len(failed.byCaller) != 0 {
		t.Errorf("right after a lane failed to open a per_caller upstream gave %v, %v; want a refusal", l, err)
	}
}

func must(l *upConn, err error) *upConn {
	if err != nil {
		panic(err)
	}
	return l
}

// TestLaneRetryDoubles: each failure after the last wait ran out doubles
// the wait before a lane is tried again, from laneRetryFirst up to
// laneRetry; lanes failing together count once; one that opens ends the
// wait.
func TestLaneRetryDoubles(t *testing.T) {
	var c lanes
	now := time.Now()
	var got []time.Duration
	for range 9 {
		now = now.Add(c.retryWait)
		c.laneOpenFailed(now)
		got = append(got, c.retryWait)
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second, time.Minute, time.Minute, time.Minute}
	if !slices.Equal(got, want) {
		t.Errorf("waits after failures in a row %v, want %v", got, want)
	}

	c = lanes{}
	for range 8 { // eight callers' lanes, opening at once, all fail
		now = now.Add(10 * time.Millisecond)
		c.laneOpenFailed(now)
	}
	if c.failures != 1 || c.retryWait != time.Second {
		t.Errorf("lanes failing together counted as %d failures, a wait of %v; want one, 1s", c.failures, c.retryWait)
	}
	c.laneOpened() // one that was opening meanwhile opens
	if now.Sub(c.failedAt) < c.retryWait {
		t.Error("a lane opened, and new ones still wait")
	}
	c.laneOpenFailed(now)
	if c.retryWait != time.Second {
		t.Errorf("a failure after a lane opened waits %v, want 1s", c.retryWait)
	}
}

// A lane that did not open within the call's bound makes the call a
// timeout on an upstream without per_caller; a per_caller upstream's call
// is refused (lane-failed), as it is without a lane for any other reason.
func TestLateLane(t *testing.T) {
	late := &laneError{upstream: "up", policy: PolicyLaneFailed, reason: "not within 1s", late: time.Second}
	shared := &upConn{cfg: store.Upstream{Name: "up", URL: "http://127.0.0.1:1/mcp"}}
	var timeout *tools.TimeoutError
	if err := lateLane(shared, late, "echo"); !errors.As(err, &timeout) || timeout.Tool != "echo" || timeout.After != time.Second {
		t.Errorf("without per_caller: %v", err)
	}
	perCaller := &upConn{cfg: store.Upstream{Name: "up", Command: []string{"srv"}, PerCaller: true}}
	var lerr *laneError
	if err := lateLane(perCaller, late, "echo"); !errors.As(err, &lerr) || lerr.policy != PolicyLaneFailed {
		t.Errorf("per_caller: %v", err)
	}
	other := &laneError{upstream: "up", policy: PolicyLanesBusy}
	if err := lateLane(shared, other, "echo"); err != other {
		t.Errorf("a lane refused otherwise: %v", err)
	}
}
