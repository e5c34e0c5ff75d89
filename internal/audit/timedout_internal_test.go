package audit

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"
)

// TestTimedOutOnlyForTimeouts: the stream halves a batch whose Send timed
// out, but not one refused for another reason (a 5xx, a closed port),
// which a smaller batch would not help, nor a connection not made in
// time.
func TestTimedOutOnlyForTimeouts(t *testing.T) {
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release)
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "try later", http.StatusServiceUnavailable)
	}))
	defer failing.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()

	short := &WebhookOptions{Client: &http.Client{Timeout: 50 * time.Millisecond}}
	// A receiver that cannot be reached in time: the connection itself
	// times out.
	unreachable := &WebhookOptions{Client: &http.Client{Timeout: time.Second, Transport: &http.Transport{
		DialContext: func(context.Context, string, string) (net.Conn, error) {
			return nil, &net.OpError{Op: "dial", Net: "tcp", Err: os.ErrDeadlineExceeded}
		}}}}
	entries := []Entry{{Seq: 1, Event: Event{Type: Logout}}}
	for _, c := range []struct {
		name string
		url  string
		opts *WebhookOptions
		ctx  time.Duration // the Send's deadline; 0 for none
		want bool
	}{
		{"client timeout", slow.URL, short, 0, true},
		{"send deadline", slow.URL, nil, 50 * time.Millisecond, true},
		{"5xx", failing.URL, short, 0, false},
		{"refused", closed.URL, short, 0, false},
		{"dial timeout", slow.URL, unreachable, 0, false},
	} {
		w, err := NewWebhook("t", c.url, []byte("webhook-test-secret"), c.opts)
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		if c.ctx > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, c.ctx)
			defer cancel()
		}
		err = w.Send(ctx, entries)
		if err == nil || timedOut(err) != c.want {
			t.Errorf("%s: timedOut(%v) = %v, want %v", c.name, err, err != nil && timedOut(err), c.want)
		}
	}
}
