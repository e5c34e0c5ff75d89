package gateway

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/store"
)

// TestSubscriptionKeptAgainstALastUnsubscription: one session's
// subscription to a URI and another's last unsubscription from it cross.
// Whichever the upstream is asked last must match what the gateway keeps:
// a session the gateway notes as subscribed must leave the upstream
// subscribed, or the caller, told it is subscribed, never hears of a
// change again.
func TestSubscriptionKeptAgainstALastUnsubscription(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	last := ""
	note := func(m string) { mu.Lock(); last = m; mu.Unlock() }
	up := mcp.NewServer(&mcp.Implementation{Name: "up", Version: "1"}, &mcp.ServerOptions{
		SubscribeHandler:   func(context.Context, *mcp.SubscribeRequest) error { note("subscribe"); return nil },
		UnsubscribeHandler: func(context.Context, *mcp.UnsubscribeRequest) error { note("unsubscribe"); return nil },
	})
	st, ct := mcp.NewInMemoryTransports()
	if _, err := up.Connect(ctx, st, nil); err != nil {
		t.Fatal(err)
	}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "gw", Version: "1"}, nil).Connect(ctx, ct, &mcp.ClientSessionOptions{ProtocolVersion: upstreamProtocol})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	g := &Gateway{}
	g.ups = newUpstreams(g)
	defer g.ups.cancel()
	g.ups.conns["up"] = &upConn{cfg: store.Upstream{Name: "up"}, session: cs}

	// Two sessions of the gateway's own, A and B.
	front := mcp.NewServer(&mcp.Implementation{Name: "front", Version: "1"}, nil)
	session := func() *mcp.ServerSession {
		st, ct := mcp.NewInMemoryTransports()
		ss, err := front.Connect(ctx, st, nil)
		if err != nil {
			t.Fatal(err)
		}
		c, err := mcp.NewClient(&mcp.Implementation{Name: "agent", Version: "1"}, nil).Connect(ctx, ct, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return ss
	}
	a, b := session(), session()
	key := subKey{"up", "file:///notes.txt"}
	forward := func() error { return cs.Subscribe(ctx, &mcp.SubscribeParams{URI: key.uri}) }
	// Settled: every hold of key's entry is a session's.
	settled := func() {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			g.subsMu.Lock()
			e := g.subs[key]
			ok := e == nil || e.users == len(e.sessions)
			g.subsMu.Unlock()
			if ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatal("the subscriptions did not settle")
			}
			time.Sleep(time.Millisecond)
		}
	}
	// Others take subsMu all the while, as other sessions' requests do.
	stop := make(chan struct{})
	var busy sync.WaitGroup
	defer func() { close(stop); busy.Wait() }()
	busy.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				if reserved, _ := g.reserveSub(a, key); reserved {
					g.subsMu.Lock()
					g.unreserveLocked(a)
					g.subsMu.Unlock()
				}
			}
		}
	})
	for i := range 300 {
		if err := g.subscribeUpstream(ctx, a, key, nil, forward); err != nil {
			t.Fatal(err)
		}
		settled()
		var wg sync.WaitGroup
		wg.Go(func() { _ = g.subscribeUpstream(ctx, b, key, nil, forward) })
		wg.Go(func() { g.dropSubs(a, key.uri) })
		wg.Wait()
		settled()
		g.subsMu.Lock()
		bIn := g.subs[key] != nil && g.subs[key].sessions[b]
		g.subsMu.Unlock()
		mu.Lock()
		got := last
		mu.Unlock()
		if bIn && got != "subscribe" {
			t.Fatalf("iteration %d: B is noted as subscribed, but the upstream was last asked to %s", i, got)
		}
		g.dropSubs(b, key.uri)
		settled()
	}
}
