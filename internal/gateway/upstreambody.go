package gateway

// Design note: bounded answers of Streamable HTTP upstreams.
//
// The SDK's client reads an upstream's answer that is not an event stream
// (a JSON-RPC message as application/json, or the body of an HTTP error)
// whole into memory, with no bound of its own. An event stream it reads
// event by event, each bounded, and so does the gateway before it
// (eventBarriers). So the gateway bounds each body the SDK would read
// whole at maxUpstreamBody, and an answer past its bound (a body, or an
// event of a call's stream) becomes a JSON-RPC error answering the request
// it was for: the caller is told why, and only that request fails. A read
// error would fail the SDK's whole connection instead, and every other
// call on it with it.

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"net/http"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// maxUpstreamBody bounds one answer of a Streamable HTTP upstream that is
// not an event stream: 16 MiB, what the SDK and the gateway take for one
// event of a stream (maxUpstreamEvent), so that an answer is not refused
// for coming as JSON rather than as an event. The SDK buffers such an
// answer whole, and the gateway before it, so one answer may hold twice
// this while it is read.
const maxUpstreamBody = 16 << 20

// errAnswerTooLarge is what a caller is told of an answer past
// maxUpstreamBody. It names no URL: the upstream's may hold a credential.
var errAnswerTooLarge = fmt.Errorf("the upstream's answer is larger than %d MiB, the most the gateway takes", maxUpstreamBody>>20)

// errRequestTooLarge answers a request of a stdio upstream's past the
// bound (stdiolines.go).
var errRequestTooLarge = fmt.Errorf("the request is larger than %d MiB, the most the gateway takes", maxUpstreamBody>>20)

// boundedBodies bounds the bodies of a Streamable HTTP upstream's answers
// that are not event streams at maxUpstreamBody: those of no declared
// length, or a declared length past the bound.
type boundedBodies struct {
	base http.RoundTripper
}

func (t boundedBodies) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, mt, err := roundTrip(t.base, r)
	if err != nil || resp.Body == nil {
		return resp, err
	}
	if mt == "text/event-stream" {
		return resp, nil // bounded event by event (eventBarriers)
	}
	if resp.ContentLength >= 0 && resp.ContentLength <= maxUpstreamBody {
		// Its declared length bounds it (the transport reads no more):
		// passed on as it comes, not copied first.
		return resp, nil
	}
	ok := resp.StatusCode >= 200 && resp.StatusCode < 300
	resp.Body = &boundedBody{rc: resp.Body, req: r, answer: ok && mt == "application/json"}
	return resp, nil
}

// boundedBody is a body read whole, up to maxUpstreamBody, on its first
// Read: in the SDK's goroutine that reads it, never in RoundTrip, which
// would hold the request that sent it.
type boundedBody struct {
	rc     io.ReadCloser
	req    *http.Request // the request it answers
	answer bool          // a JSON-RPC message answering req

	read bool
	out  []byte // what is not yet passed on
	err  error  // once out is empty
}

func (b *boundedBody) Read(p []byte) (int, error) {
	if !b.read {
		b.read = true
		b.out, b.err = io.ReadAll(io.LimitReader(b.rc, maxUpstreamBody+1))
		if b.err == nil {
			b.err = io.EOF
		}
		if len(b.out) > maxUpstreamBody {
			b.out, b.err = nil, errAnswerTooLarge
			if b.answer {
				if msg := errorAnswer(b.req, errAnswerTooLarge); msg != nil {
					b.out, b.err = msg, io.EOF
				}
			}
		}
	}
	if len(b.out) == 0 {
		return 0, b.err
	}
	n := copy(p, b.out)
	b.out = b.out[n:]
	return n, nil
}

func (b *boundedBody) Close() error { return b.rc.Close() }

// errorAnswer returns a JSON-RPC error response, saying cause, to the
// request r carries, or nil when it carries none (a GET, a notification).
// r's body is the gateway's own message, re-read through GetBody: only
// an answer that failed pays for decoding it.
func errorAnswer(r *http.Request, cause error) []byte {
	if r == nil || r.Method != http.MethodPost || r.GetBody == nil {
		return nil
	}
	body, err := r.GetBody()
	if err != nil {
		return nil
	}
	defer body.Close()
	raw, err := io.ReadAll(body)
	if err != nil {
		return nil
	}
	msg, err := jsonrpc.DecodeMessage(bytes.TrimSpace(raw))
	req, ok := msg.(*jsonrpc.Request)
	if err != nil || !ok || !req.ID.IsValid() {
		return nil
	}
	out, err := jsonrpc.EncodeMessage(&jsonrpc.Response{ID: req.ID,
		Error: &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: "gatehouse: " + cause.Error()}})
	if err != nil {
		return nil
	}
	return out
}

// roundTrip sends r on base (nil: http.DefaultTransport) and returns the
// answer with its media type.
func roundTrip(base http.RoundTripper, r *http.Request) (*http.Response, string, error) {
	if base == nil {
		base = http.DefaultTransport
	}
	resp, err := base.RoundTrip(r)
	if err != nil || resp.Body == nil {
		return resp, "", err
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	return resp, mt, nil
}
