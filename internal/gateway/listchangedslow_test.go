package gateway_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/store"
)

// TestListChangedToASlowSession: while a session's list_changed is slow
// to send, the rebuilds that change its list again do not each start a
// sender of their own (goroutines piling up behind the slow client, the
// session sent as many notices as there were rebuilds): the session has
// one sender, sending one notice at a time, and what changed meanwhile
// goes as one more notice.
func TestListChangedToASlowSession(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, envOptions{})
	var (
		mu                  sync.Mutex
		inflight, most, all int
	)
	release := make(chan struct{})
	e.gw.WrapNotify(func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			if method == "notifications/tools/list_changed" {
				mu.Lock()
				inflight++
				all++
				most = max(most, inflight)
				mu.Unlock()
				<-release
				defer func() { mu.Lock(); inflight--; mu.Unlock() }()
			}
			return next(ctx, method, req)
		}
	})
	alice := watchList(e, "alice", "acme-assistant")
	toolNames(t, alice.cs)
	const rebuilds = 20
	for i := range rebuilds {
		if err := e.st.Tools().Update(ctx, "sales_report", func(tl store.Tool) (store.Tool, error) {
			tl.Description = fmt.Sprintf("Monthly sales, take %d", i)
			return tl, nil
		}); err != nil {
			t.Fatal(err)
		}
		if err := e.gw.Reload(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// The first notice is on its way (or all are, one sender each).
	for deadline := time.Now().Add(10 * time.Second); ; {
		mu.Lock()
		n := all
		mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no list_changed was sent")
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(release)
	// A notice too many has arrived once all that was sent has.
	waitDelivered(t, e, alice)
	mu.Lock()
	defer mu.Unlock()
	if got := alice.arrived.Load(); most != 1 || all > 2 || got < 1 || got > 2 {
		t.Errorf("%d rebuilds: %d notices sent, %d at once, alice got %d", rebuilds, all, most, got)
	}
	res, err := alice.cs.ListTools(ctx, nil)
	if err != nil || len(res.Tools) != 1 || res.Tools[0].Description != fmt.Sprintf("Monthly sales, take %d", rebuilds-1) {
		t.Errorf("alice lists %v, %v", res, err)
	}
}
