package gateway

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestKeepConnsCutsAnUnansweredRequest: a request whose context ends
// before its answer came is cut short at once, well within drainGrace, as
// an abandoned or overdue call must be: the upstream sees its request end.
func TestKeepConnsCutsAnUnansweredRequest(t *testing.T) {
	ended := make(chan time.Time, 1)
	us := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{}}\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		ended <- time.Now()
	}))
	defer us.Close()
	hc := &http.Client{Transport: keepConns{base: barrierTripper{base: http.DefaultTransport, b: newBarriers()}}}
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, us.URL, strings.NewReader("{}"))
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 64)
	if _, err := resp.Body.Read(buf); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	cancel()
	select {
	case at := <-ended:
		if took := at.Sub(start); took >= drainGrace/2 {
			t.Errorf("the unanswered request ended %v after its context, want at once", took)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the unanswered request never ended")
	}
}

// TestKeepConnsDrainsAnAnsweredRequest: once the answer has been read off
// the stream, the request's context ending does not cut the stream's end
// short: the body reads to its end, and the connection carries the next
// request.
func TestKeepConnsDrainsAnAnsweredRequest(t *testing.T) {
	var conns atomic.Int64
	us := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n")
		w.(http.Flusher).Flush()
		time.Sleep(100 * time.Millisecond) // the stream's end comes later
	}))
	us.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	us.Start()
	defer us.Close()
	hc := &http.Client{Transport: keepConns{base: barrierTripper{base: http.DefaultTransport, b: newBarriers()}}}
	for i := range 2 {
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, us.URL, strings.NewReader("{}"))
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r := bufio.NewReader(resp.Body)
		line, err := r.ReadString('\n')
		if err != nil || !strings.Contains(line, `"result"`) {
			t.Fatalf("request %d: %q, %v", i, line, err)
		}
		cancel() // the call has its answer and ends
		if _, err := io.Copy(io.Discard, r); err != nil {
			t.Errorf("request %d: the answered stream's end: %v", i, err)
		}
		resp.Body.Close()
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("two answered requests used %d connections, want one", n)
	}
}
