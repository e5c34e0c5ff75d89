package gateway

// Design note: an answered request keeps its connection.
//
// The SDK's client sends each request to a Streamable HTTP upstream under
// the context of the call it serves, and after the answer reads the rest
// of the response's event stream (the end of its chunked body), so that
// the connection can carry the next request. The call's context ends as
// soon as the call has its answer: the gateway cancels its own bound, and
// the caller's request ends. When that came before the stream's end,
// which an upstream writes just after the answer, the transport closed the
// connection while the stream was being drained, and the next request
// opened a new one: a TCP handshake and a reader and a writer goroutine on
// each side. A runtime trace of the gateway found that on 14 % of the
// calls at one client; counted at the upstream under strace (a slow
// machine), on nearly every call.
//
// So each request to an upstream runs under a context of its own
// (keepConns): it ends with the request's context as long as no answer
// has come back, which still cuts an abandoned or overdue call short;
// once an answer has been read off the stream (eventBarriers marks it), an
// ending request context leaves the stream drainGrace to end by itself
// first. Closing the response body releases the context.

import (
	"context"
	"io"
	"net/http"
	"sync/atomic"
	"time"
)

// drainGrace is how long the end of an answered request's event stream is
// waited for after the request's context ended: the upstream writes it
// right after the answer.
const drainGrace = time.Second

// answerMarkKey keys, in a request's context, the flag set once an answer
// has been read off its stream (an *atomic.Bool).
type answerMarkKey struct{}

// markAnswered notes that the request whose context ctx is has its answer.
func markAnswered(ctx context.Context) {
	if m, ok := ctx.Value(answerMarkKey{}).(*atomic.Bool); ok {
		m.Store(true)
	}
}

// keepConns runs each request on base (required) under a context of its
// own, which ends with the request's unless the request has its answer
// (see the design note).
type keepConns struct {
	base http.RoundTripper
}

func (t keepConns) RoundTrip(r *http.Request) (*http.Response, error) {
	outer := r.Context()
	mark := new(atomic.Bool)
	inner, cancel := context.WithCancelCause(context.WithValue(context.WithoutCancel(outer), answerMarkKey{}, mark))
	var grace atomic.Pointer[time.Timer]
	stop := context.AfterFunc(outer, func() {
		if mark.Load() {
			grace.Store(time.AfterFunc(drainGrace, func() { cancel(context.Cause(outer)) }))
			return
		}
		cancel(context.Cause(outer))
	})
	release := func() {
		stop()
		if g := grace.Load(); g != nil {
			g.Stop()
		}
		cancel(context.Canceled)
	}
	resp, err := t.base.RoundTrip(r.WithContext(inner))
	if err != nil || resp.Body == nil {
		release()
		return resp, err
	}
	resp.Body = &releasingBody{ReadCloser: resp.Body, release: release}
	return resp, nil
}

// releasingBody releases its request's context once it is closed, after
// the transport has had the connection back.
type releasingBody struct {
	io.ReadCloser
	release func()
}

func (b *releasingBody) Close() error {
	err := b.ReadCloser.Close()
	b.release()
	return err
}
