package gateway

import "sync"

// relister runs the listing an upstream asks for when it says a list
// changed (notifications/tools/list_changed, or prompts' and resources'),
// coalesced: at most one listing runs at a time, and at most one waits
// behind it. A notification that comes while one waits is absorbed by it:
// that listing has not started, so it will see whatever the notification
// announced. An upstream that sends list_changed in a loop so costs the
// gateway one listing after another, never a goroutine, a listing and an
// import per notification. The zero relister is ready to use; it is safe
// for concurrent use.
type relister struct {
	mu      sync.Mutex
	running bool
	queued  bool
	done    func() // the queued listing's, from begin
}

// request asks for a run of list that starts after now. begin (nil: none)
// is called when a run is asked for, not when one is absorbed, and what it
// returns when that run has ended: the tools' listing counts as under way
// from the notification on, so that calls wait for it.
func (r *relister) request(begin func() (done func()), list func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.queued {
		return
	}
	done := func() {}
	if begin != nil {
		done = begin()
	}
	if r.running {
		r.queued, r.done = true, done
		return
	}
	r.running = true
	go func() {
		for {
			list()
			done()
			r.mu.Lock()
			if !r.queued {
				r.running = false
				r.mu.Unlock()
				return
			}
			done, r.queued, r.done = r.done, false, nil
			r.mu.Unlock()
		}
	}()
}
