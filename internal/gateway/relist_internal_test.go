package gateway

import (
	"sync/atomic"
	"testing"
	"time"
)

// TestRelisterCoalesces: requests while a run is under way make one more
// run, after it; each run asked for is begun when asked for and done when
// it ends; a request after that makes a run again.
func TestRelisterCoalesces(t *testing.T) {
	var r relister
	var begun, done atomic.Int64
	begin := func() func() {
		begun.Add(1)
		return func() { done.Add(1) }
	}
	started := make(chan int, 10)
	proceed := make(chan struct{})
	runs := 0
	list := func() {
		runs++ // one run at a time: no lock needed, the race detector checks
		started <- runs
		<-proceed
	}

	r.request(begin, list)
	if n := <-started; n != 1 {
		t.Fatalf("run %d started first", n)
	}
	for range 100 {
		r.request(begin, list)
	}
	if b, d := begun.Load(), done.Load(); b != 2 || d != 0 {
		t.Errorf("while the first runs: %d begun, %d done; want 2 and 0", b, d)
	}
	proceed <- struct{}{}
	if n := <-started; n != 2 {
		t.Fatalf("run %d started second", n)
	}
	if d := done.Load(); d != 1 {
		t.Errorf("the first run ended: %d done, want 1", d)
	}
	proceed <- struct{}{}
	waitIdle(t, &r)
	if b, d := begun.Load(), done.Load(); b != 2 || d != 2 || len(started) != 0 {
		t.Errorf("after the storm: %d begun, %d done, %d more runs; want 2, 2 and none", b, d, len(started))
	}

	r.request(nil, list)
	if n := <-started; n != 3 {
		t.Fatalf("run %d started after the storm", n)
	}
	proceed <- struct{}{}
	waitIdle(t, &r)
}

func waitIdle(t *testing.T, r *relister) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r.mu.Lock()
		idle := !r.running
		r.mu.Unlock()
		if idle {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the relister did not stop")
		}
		time.Sleep(time.Millisecond)
	}
}
