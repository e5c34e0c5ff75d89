package gateway_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// sentNotices counts the list_changed notifications the gateway sent, by
// session and method. With what a session received, it tells when every
// notice sent in the background has arrived: a test that checks no wrong
// notice came waits for that, instead of sleeping a while for a wrong one
// to show up (which proves nothing on a loaded machine).
type sentNotices struct {
	mu sync.Mutex
	n  map[[2]string]int // session ID, method
}

// count wraps the gateway's sender of its own list_changed.
func (s *sentNotices) count(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		res, err := next(ctx, method, req)
		if err == nil {
			s.mu.Lock()
			if s.n == nil {
				s.n = map[[2]string]int{}
			}
			s.n[[2]string{req.GetSession().ID(), method}]++
			s.mu.Unlock()
		}
		return res, err
	}
}

func (s *sentNotices) sent(session, method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n[[2]string{session, method}]
}

// noticeWatcher is a session that counts the list_changed it receives.
type noticeWatcher interface {
	// received is how many of each method it watches it received so far.
	received() (session string, byMethod map[string]int)
}

// waitDelivered waits until the gateway has no list_changed left to send
// and each of ws received every one it was sent. Callers make sure that
// what they changed was handed to the gateway's senders first (a reload
// returns after it was; an upstream's change, once one session was told).
func waitDelivered(t *testing.T, e *env, ws ...noticeWatcher) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		// Pending first: once none is, the counts of what was sent are
		// final.
		pending := e.gw.NoticesPending()
		var behind []string
		for _, w := range ws {
			id, got := w.received()
			for m, n := range got {
				if sent := e.notices.sent(id, m); sent != n {
					behind = append(behind, fmt.Sprintf("session %s received %d of %d %s", id, n, sent, m))
				}
			}
		}
		if pending == 0 && len(behind) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("list_changed not delivered: %d sessions with notices pending; %v", pending, behind)
		}
	}
}
