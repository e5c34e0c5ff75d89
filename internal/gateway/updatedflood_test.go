package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/store"
)

// stallingRevocations is a revocation list that, while stall is set,
// answers nothing until release closes (or the asking context ends),
// counting in stalled the questions it held.
type stallingRevocations struct {
	stall   *atomic.Bool
	release chan struct{}
	stalled *atomic.Int64
}

func (r stallingRevocations) Revoked(ctx context.Context, _, _ string) (bool, error) {
	if r.stall.Load() {
		r.stalled.Add(1)
		select {
		case <-r.release:
		case <-ctx.Done():
		}
	}
	return false, nil
}

// heapInUse is the live heap after a collection.
func heapInUse() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// TestUpstreamResourceUpdatedFloodBounded: an upstream that floods
// notifications/resources/updated faster than the gateway passes them on
// costs the gateway bounded memory and work. Here the store stalls once a
// caller has subscribed, and the upstream writes 64 MiB of notices of one
// URI (4,096 of them) on its standalone stream. The gateway may stop
// reading them or read them and keep only that the URI changed; what it
// must not do is keep them all, the SDK's queue of notifications growing
// by everything the upstream sends: its heap grows by far less than what
// the upstream wrote, and once the store answers again the subscriber
// hears of the resource a few times, a delivery per URI, not one per
// notice.
//
// Whether the gateway reads all 64 MiB is not the test: reading a notice
// and dropping it at once, as one already noted, costs nothing kept.
func TestUpstreamResourceUpdatedFloodBounded(t *testing.T) {
	up := mcp.NewServer(&mcp.Implementation{Name: "flood", Version: "1"}, &mcp.ServerOptions{
		SubscribeHandler:   func(context.Context, *mcp.SubscribeRequest) error { return nil },
		UnsubscribeHandler: func(context.Context, *mcp.UnsubscribeRequest) error { return nil },
	})
	addEcho(up, "Echoes its text")
	up.AddResource(&mcp.Resource{URI: "file:///r", Name: "r"}, func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, Text: "x"}}}, nil
	})
	sdk := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return up }, nil)
	start := make(chan struct{})
	var written, sent atomic.Int64
	finished := make(chan struct{})
	// stopWriting ends the flood where it is (a machine too slow to take
	// it all in the time given: under the race detector, say): what is
	// written after the store answers again is new news, not the flood.
	stopWriting := make(chan struct{})
	var finish sync.Once
	notice := func(pad int) []byte {
		return []byte(fmt.Sprintf("event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/resources/updated\",\"params\":{\"uri\":\"file:///r\",\"_meta\":{\"pad\":%q}}}\n\n", strings.Repeat("x", pad)))
	}
	us := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			sdk.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		// Until the flood, a notice now and then, for the test to know
		// the subscriber hears them.
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
	wait:
		for {
			select {
			case <-start:
				break wait
			case <-r.Context().Done():
				return
			case <-tick.C:
				if _, err := w.Write(notice(0)); err != nil {
					return
				}
				w.(http.Flusher).Flush()
			}
		}
		ev := notice(16 << 10)
	flood:
		for written.Load() < 64<<20 {
			select {
			case <-stopWriting:
				break flood
			default:
			}
			if _, err := w.Write(ev); err != nil {
				break flood
			}
			w.(http.Flusher).Flush()
			written.Add(int64(len(ev)))
			sent.Add(1)
		}
		finish.Do(func() { close(finished) })
		<-r.Context().Done()
	}))
	t.Cleanup(us.Close)
	var stall atomic.Bool
	var stalled atomic.Int64
	release := make(chan struct{})
	e := newEnv(t, envOptions{
		tools:       []store.Tool{{Name: "echo", Upstream: "flood", Roles: []string{"sales-manager"}}},
		upstreams:   []store.Upstream{{Name: "flood", URL: us.URL}},
		revocations: stallingRevocations{stall: &stall, release: release, stalled: &stalled},
	})
	var released sync.Once
	free := func() { released.Do(func() { stall.Store(false); close(release) }) }
	t.Cleanup(free)
	ctx := context.Background()
	heard := &collected{}
	cs := e.connectToken(e.token("alice", "acme-assistant"), "2025-11-25", &mcp.ClientOptions{
		ResourceUpdatedHandler: func(_ context.Context, r *mcp.ResourceUpdatedNotificationRequest) { heard.add(r.Params.URI) },
	})
	waitFor(t, "the upstream's resource", func() bool {
		rl, err := cs.ListResources(ctx, nil)
		return err == nil && len(rl.Resources) == 1
	})
	if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: "file:///r"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "alice hearing of the resource", func() bool { return len(heard.all()) > 0 })

	stall.Store(true)
	before := heapInUse()
	close(start)
	select {
	case <-finished:
	case <-time.After(20 * time.Second): // held back: fine too
		close(stopWriting)
		select {
		case <-finished:
		case <-time.After(10 * time.Second): // a write the gateway holds back
		}
	}
	// The SDK's reader may lag the upstream by what the connection
	// buffers: time for it to take that in too.
	time.Sleep(time.Second)
	grown := heapInUse() - before
	t.Logf("the upstream wrote %d MiB (%d notices); the gateway's store was asked %d times meanwhile, and the heap grew %d KiB",
		written.Load()>>20, sent.Load(), stalled.Load(), grown>>10)
	if grown > 16<<20 {
		t.Errorf("the heap grew by %d MiB while the upstream wrote %d MiB of notices the gateway could not pass on", grown>>20, written.Load()>>20)
	}

	// The store answers again: the notices of the flood reach alice
	// coalesced.
	had := len(heard.all())
	free()
	quiet := time.Now()
	for n := had; time.Since(quiet) < time.Second; {
		time.Sleep(50 * time.Millisecond)
		if m := len(heard.all()); m != n {
			n, quiet = m, time.Now()
		}
		if time.Since(quiet) > 20*time.Second {
			break
		}
	}
	// A few deliveries, not one per notice: what the gateway had not yet
	// read of the flood when the store answered (more under the race
	// detector, which slows the reading) is passed on as it comes, a
	// delivery per read that finds the URI not already waiting.
	if n := len(heard.all()) - had; n < 1 || n > 64 {
		t.Errorf("alice heard of the resource %d times after %d notices of it, want at least once and a few times at most", n, sent.Load())
	}
}
