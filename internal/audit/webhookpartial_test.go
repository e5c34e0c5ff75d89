package audit_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
)

// TestWebhookAnswerBeforeWholeBodyIsNotDelivery: a receiver that reads the
// start of a delivery, answers 200 and reads no more (a body limit that
// truncates, a handler that answers first) has not taken the records: the
// send fails, so the stream keeps its position and sends them again.
// (Only what the sender can tell: a body that fit in the sockets' buffers
// before the receiver stopped reading left the sender whole. The signature
// covers the whole body, so a receiver that verifies it before answering
// never answers 2xx to part of one.)
func TestWebhookAnswerBeforeWholeBodyIsNotDelivery(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan struct{})
	defer close(done)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		// A small receive buffer: the body cannot all be in flight.
		c.(*net.TCPConn).SetReadBuffer(4096)
		r := bufio.NewReader(c)
		req, err := http.ReadRequest(r)
		if err != nil {
			return
		}
		io.ReadFull(req.Body, make([]byte, 1000)) // the start only
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
		<-done // and reads no more
	}()
	wh, err := audit.NewWebhook("partial", "http://"+ln.Addr().String()+"/hook", []byte("webhook-test-secret"), nil)
	if err != nil {
		t.Fatal(err)
	}
	// 20 MB: more than the sender's socket buffer can hold.
	var entries []audit.Entry
	for i := range 100 {
		entries = append(entries, audit.Entry{Seq: int64(i + 1), Event: audit.Event{Type: audit.ToolResult, Actor: strings.Repeat("a", 200<<10)}})
	}
	send := func(t *testing.T, wh *audit.Webhook) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := wh.Send(ctx, entries); err == nil {
			t.Error("Send reported a delivery the receiver did not read")
		} else if !strings.Contains(err.Error(), "before taking the whole delivery") {
			t.Errorf("Send: %v", err)
		}
	}
	send(t, wh)

	// The same from net/http receivers, over HTTP/1.1 and HTTP/2.
	partial := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadFull(r.Body, make([]byte, 1000))
		w.WriteHeader(http.StatusOK)
	})
	t.Run("http1", func(t *testing.T) {
		srv := httptest.NewServer(partial)
		defer srv.Close()
		wh, err := audit.NewWebhook("partial", srv.URL, []byte("webhook-test-secret"), nil)
		if err != nil {
			t.Fatal(err)
		}
		send(t, wh)
	})
	t.Run("http2", func(t *testing.T) {
		srv := httptest.NewUnstartedServer(partial)
		srv.EnableHTTP2 = true
		srv.StartTLS()
		defer srv.Close()
		wh, err := audit.NewWebhook("partial", srv.URL, []byte("webhook-test-secret"), &audit.WebhookOptions{Client: srv.Client()})
		if err != nil {
			t.Fatal(err)
		}
		send(t, wh)
	})
	// A client whose transport is not net/http's reports no write: its
	// 2xx is taken at its word, as before.
	t.Run("other transport", func(t *testing.T) {
		ok := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			io.Copy(io.Discard, r.Body)
			return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Request: r}, nil
		})
		wh, err := audit.NewWebhook("other", "https://siem.example/hook", []byte("webhook-test-secret"), &audit.WebhookOptions{Client: &http.Client{Transport: ok}})
		if err != nil {
			t.Fatal(err)
		}
		if err := wh.Send(context.Background(), entries[:3]); err != nil {
			t.Error(err)
		}
	})
	// A receiver that reads it all is answered as before.
	t.Run("whole", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
		}))
		defer srv.Close()
		wh, err := audit.NewWebhook("whole", srv.URL, []byte("webhook-test-secret"), nil)
		if err != nil {
			t.Fatal(err)
		}
		for range 20 {
			if err := wh.Send(context.Background(), entries[:3]); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// TestWebhookEndlessAnswerIsBounded: a receiver that takes the delivery
// and then answers 2xx with a body that never ends, or trickles its answer,
// holds Send no longer than the client's timeout (the answer's body is
// read only so far, and only for so long). Both are deliveries: the
// receiver said 2xx after taking the whole body.
func TestWebhookEndlessAnswerIsBounded(t *testing.T) {
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		trickle := r.URL.Path == "/trickle"
		if trickle {
			w.Header().Set("Content-Length", "1000")
		}
		w.WriteHeader(http.StatusOK)
		chunk := make([]byte, 32<<10)
		if trickle {
			chunk = chunk[:1]
		}
		for {
			if _, err := w.Write(chunk); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			if trickle {
				select {
				case <-stop:
					return
				case <-time.After(50 * time.Millisecond):
				}
			}
		}
	}))
	defer srv.Close()
	defer close(stop)
	entries := []audit.Entry{{Seq: 1, Event: audit.Event{Type: audit.ToolResult}}}

	// No client timeout: only the bound on what is read of the answer
	// ends this one.
	wh, err := audit.NewWebhook("endless", srv.URL+"/endless", []byte("webhook-test-secret"), &audit.WebhookOptions{Client: &http.Client{}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := wh.Send(ctx, entries); err != nil || ctx.Err() != nil {
		t.Errorf("endless answer: %v (context: %v)", err, ctx.Err())
	}

	wh, err = audit.NewWebhook("trickle", srv.URL+"/trickle", []byte("webhook-test-secret"), &audit.WebhookOptions{Client: &http.Client{Timeout: 300 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Send(ctx, entries); err != nil || ctx.Err() != nil {
		t.Errorf("trickled answer: %v (context: %v)", err, ctx.Err())
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
