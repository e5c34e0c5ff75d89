package gateway

//lint:file-ignore SA1019 a barrier is a log notification the gateway makes for itself and takes off its own client's queue; logging is deprecated from protocol revision 2026-07-28 on but handled by the SDK's client in every revision.

// Design note: barriers, so that a call's result never overtakes what the
// upstream sent before it.
//
// The SDK's client reads an upstream's messages in order but hands
// notifications to their handlers on a queue of their own, apart from
// responses: a call's result can reach the gateway while the progress and
// log messages the upstream sent just before it are still queued, and once
// the gateway answers, the caller's stream is closed and they are lost.
//
// So wherever a response follows notifications on one stream from the
// upstream, the gateway puts a barrier before it: a log notification of
// its own (under a logger name the upstream never sees), which joins the
// same queue behind those notifications and is taken off the queue by the
// gateway's receiving middleware instead of being relayed. When it has been
// handled, everything read before it has been. A call waits for the
// barriers put so far before it answers (bounded by barrierWait).
//
// On Streamable HTTP the barrier goes into the server-sent events of the
// response (the SDK's connection type cannot be wrapped: it implements an
// unexported interface); on stdio the connection is wrapped.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/slip"
)

// barrierWait bounds how long a call waits for the upstream's messages
// before its result to be relayed.
const barrierWait = 2 * time.Second

const methodLog = "notifications/message"

// barriers are one upstream connection's barriers.
type barriers struct {
	logger string // the barriers' logger name, random per connection

	mu      sync.Mutex
	next    uint64               // the last barrier put
	pending map[uint64]time.Time // put (when), not yet handled
	handled chan struct{}        // closed (and replaced) whenever one is handled
	closed  bool
	gone    chan struct{} // closed by close
}

func newBarriers() *barriers {
	return &barriers{
		logger:  "gatehouse-barrier-" + slip.NewID(),
		pending: map[uint64]time.Time{},
		handled: make(chan struct{}),
		gone:    make(chan struct{}),
	}
}

// put returns a new barrier, to be read before a response.
func (b *barriers) put() *jsonrpc.Request {
	b.mu.Lock()
	b.next++
	n := b.next
	b.pending[n] = time.Now()
	b.mu.Unlock()
	params, _ := json.Marshal(mcp.LoggingMessageParams{Level: "debug", Logger: b.logger, Data: n})
	return &jsonrpc.Request{Method: methodLog, Params: params}
}

// take reports whether p is one of b's barriers, and marks it handled.
func (b *barriers) take(p *mcp.LoggingMessageParams) bool {
	if p == nil || p.Logger != b.logger {
		return false
	}
	n, ok := p.Data.(float64)
	if !ok {
		return true // ours by its name; not relayed either way
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.pending, uint64(n))
	if b.closed {
		// A barrier read after its connection closed (the SDK handles
		// what it read before it reports the close, in no order we
		// set): its waiters were released by close, whose channel is
		// not closed twice.
		return true
	}
	close(b.handled)
	b.handled = make(chan struct{})
	return true
}

// close releases every waiter: the connection is gone, and with it what
// was queued on it.
func (b *barriers) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.closed {
		b.closed = true
		close(b.handled)
		close(b.gone)
	}
}

// wait returns when every barrier put so far has been handled, ctx ends,
// barrierWait passes or the connection closes.
func (b *barriers) wait(ctx context.Context) {
	b.mu.Lock()
	target := b.next
	b.mu.Unlock()
	var timeout <-chan time.Time
	for {
		handled, done := b.settled(target)
		if done {
			return
		}
		if timeout == nil {
			t := time.NewTimer(barrierWait)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-handled:
		case <-ctx.Done():
			return
		case <-timeout:
			return
		}
	}
}

// settled reports whether every barrier up to target has been handled,
// or else the channel that says when another one is. A barrier put longer
// than barrierWait ago counts as handled: nothing can make the queue
// before it faster, and nobody should wait for it again.
func (b *barriers) settled(target uint64) (<-chan struct{}, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, true
	}
	done := true
	for n, at := range b.pending {
		switch {
		case time.Since(at) > barrierWait:
			delete(b.pending, n)
		case n <= target:
			done = false
		}
	}
	return b.handled, done
}

// receive is the client's receiving middleware that takes barriers off
// the queue: they are not relayed.
func (b *barriers) receive(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		if method == methodLog {
			if r, ok := req.(*mcp.LoggingMessageRequest); ok && b.take(r.Params) {
				return nil, nil
			}
		}
		return next(ctx, method, req)
	}
}

// stream tracks one ordered stream of messages from the upstream: a
// response read after notifications gets a barrier before it.
type stream struct {
	b     *barriers
	dirty bool // a notification was read since the last barrier
}

// before returns the barrier to read before msg, or nil.
func (s *stream) before(msg jsonrpc.Message) *jsonrpc.Request {
	switch m := msg.(type) {
	case *jsonrpc.Request:
		if !m.ID.IsValid() {
			s.dirty = true
		}
	case *jsonrpc.Response:
		if s.dirty {
			s.dirty = false
			return s.b.put()
		}
	}
	return nil
}

// barrierTransport puts barriers into the connections of a transport whose
// connection may be wrapped (stdio).
type barrierTransport struct {
	mcp.Transport
	b *barriers
}

func (t barrierTransport) Connect(ctx context.Context) (mcp.Connection, error) {
	c, err := t.Transport.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &barrierConn{Connection: c, s: stream{b: t.b}}, nil
}

type barrierConn struct {
	mcp.Connection
	s    stream          // Read is called from one goroutine
	held jsonrpc.Message // the response a barrier was read before
}

func (c *barrierConn) Read(ctx context.Context) (jsonrpc.Message, error) {
	if m := c.held; m != nil {
		c.held = nil
		return m, nil
	}
	m, err := c.Connection.Read(ctx)
	if err != nil {
		return m, err
	}
	if bar := c.s.before(m); bar != nil {
		c.held = m
		return bar, nil
	}
	return m, nil
}

// barrierTripper puts barriers into the event streams of a Streamable HTTP
// upstream's responses, and tags what comes on a call's own stream with
// the call's tag (calltag.go).
type barrierTripper struct {
	base http.RoundTripper
	b    *barriers
}

func (t barrierTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, mt, err := roundTrip(t.base, r)
	if err != nil || resp.Body == nil {
		return resp, err
	}
	if mt == "text/event-stream" {
		tag, ok := callTag(r.Context())
		if !ok && r.Method == http.MethodPost {
			// The stream of a request of the gateway's own (a listing,
			// its log level, a subscription kept across a reconnection):
			// what comes on it is said to the gateway, about whatever
			// the request was (every tool the upstream has), and belongs
			// to no caller's call, whichever one runs meanwhile.
			tag = ownRequestTag
		}
		resp.Body = &eventBarriers{rc: resp.Body, r: bufio.NewReader(resp.Body), s: stream{b: t.b}, tag: tag, req: r}
	}
	return resp, err
}

// eventBarriers passes a stream of server-sent events through event by
// event, a barrier event before each response that follows notifications,
// and the call's tag in each notification and request when the stream is
// a call's. Events it cannot read as JSON-RPC pass through as they are:
// the SDK judges them.
type eventBarriers struct {
	rc  io.ReadCloser
	r   *bufio.Reader
	s   stream
	tag string // the call's whose stream this is, if any
	// req is the request whose answer the stream is (nil: unknown): an
	// event past maxUpstreamEvent answers it with an error (errorAnswer).
	req *http.Request
	out []byte // what is read but not yet passed on
	err error  // the underlying stream's, once out is empty
}

func (e *eventBarriers) Read(p []byte) (int, error) {
	for len(e.out) == 0 {
		if e.err != nil {
			return 0, e.err
		}
		e.next()
	}
	n := copy(p, e.out)
	e.out = e.out[n:]
	return n, nil
}

func (e *eventBarriers) Close() error { return e.rc.Close() }

// maxUpstreamEvent bounds one event of an upstream's stream, as the SDK's
// own reader (which reads after this one) does: an upstream that never
// ends an event, or a line, cannot make the gateway buffer without end.
const maxUpstreamEvent = mcp.DefaultMaxEventSize

// errEventTooLarge ends a stream whose event passed maxUpstreamEvent. It
// names no URL: the upstream's may hold a credential.
var errEventTooLarge = fmt.Errorf("an event of the upstream's is larger than %d MiB, the most the gateway takes", maxUpstreamEvent>>20)

// readLine reads up to and with the next line feed (or to the end of the
// stream), failing with errEventTooLarge past limit bytes. A line that
// fits the reader's buffer is returned in it, not copied: valid only until
// the next read, which is how next uses it.
func (e *eventBarriers) readLine(limit int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := e.r.ReadSlice('\n')
		if len(line)+len(chunk) > limit {
			return nil, errEventTooLarge
		}
		if line == nil && err != bufio.ErrBufferFull {
			return chunk, err
		}
		line = append(line, chunk...)
		if err != bufio.ErrBufferFull {
			return line, err
		}
	}
}

// next reads one event (up to and with its blank line) into out, with a
// barrier event before it when it is a response after notifications.
func (e *eventBarriers) next() {
	var event, data, other []byte // other: the event's lines but data's
	name := ""
	for {
		line, err := e.readLine(maxUpstreamEvent - len(event))
		if err == errEventTooLarge {
			// Nothing of it is passed on: the stream ends here, with an
			// error answering the request it was for, if there is one
			// (after a barrier, as any response), so that the caller is
			// told why; the SDK would only say that the stream ended.
			e.err = err
			if msg := errorAnswer(e.req, err); msg != nil {
				if bar := e.s.beforeKind(kindResponse, msg); bar != nil {
					if raw, err := jsonrpc.EncodeMessage(bar); err == nil {
						e.out = append(append(append(e.out, "data: "...), raw...), "\n\n"...)
					}
				}
				e.out = append(append(append(e.out, "data: "...), msg...), "\n\n"...)
				e.err = io.EOF
			}
			return
		}
		event = append(event, line...)
		field := bytes.TrimRight(line, "\r\n")
		if !bytes.HasPrefix(field, []byte("data:")) {
			other = append(other, line...)
		}
		switch {
		case len(field) == 0 && len(line) > 0: // the blank line that ends it
		case bytes.HasPrefix(field, []byte("data:")):
			v := bytes.TrimPrefix(bytes.TrimPrefix(field, []byte("data:")), []byte(" "))
			if data != nil {
				data = append(data, '\n')
			}
			data = append(data, v...)
			if err == nil {
				continue
			}
		case bytes.HasPrefix(field, []byte("event:")):
			name = string(bytes.TrimSpace(bytes.TrimPrefix(field, []byte("event:"))))
			if err == nil {
				continue
			}
		default:
			if err == nil {
				continue
			}
		}
		if err != nil {
			e.err = err
		}
		break
	}
	if len(data) > 0 && (name == "" || name == "message") {
		k := kind(data)
		if k == kindResponse && e.req != nil {
			markAnswered(e.req.Context())
		}
		if bar := e.s.beforeKind(k, data); bar != nil {
			if raw, err := jsonrpc.EncodeMessage(bar); err == nil {
				e.out = append(append(append(e.out, "data: "...), raw...), "\n\n"...)
			}
		}
		if e.tag != "" && k != kindResponse {
			if tagged := tagMessage(data, e.tag); !bytes.Equal(tagged, data) {
				// The event again: its other lines, the data on one line
				// (JSON needs no line break), then the blank line that
				// ends it, which is other's last line.
				n := len(other)
				if i := bytes.LastIndexByte(other[:max(n-1, 0)], '\n') + 1; n > 0 && len(bytes.TrimRight(other[i:], "\r\n")) == 0 {
					ev := append([]byte{}, other[:i]...)
					ev = append(append(append(ev, "data: "...), tagged...), '\n')
					event = append(ev, other[i:]...)
				}
			}
		}
	}
	e.out = append(e.out, event...)
}

// beforeKind is before for a message not yet decoded, of kind k (kind's
// verdict on data). Most are responses whose result need not be read to
// know it: the top-level keys are scanned only until the message is told
// apart, and decoded only when the scan cannot tell.
func (s *stream) beforeKind(k int, data []byte) *jsonrpc.Request {
	switch k {
	case kindNotification:
		s.dirty = true
		return nil
	case kindResponse:
		return s.before(&jsonrpc.Response{})
	case kindRequest:
		return nil
	}
	m, err := jsonrpc.DecodeMessage(data)
	if err != nil {
		return nil
	}
	return s.before(m)
}

const (
	kindUnknown = iota
	kindNotification
	kindRequest
	kindResponse
)

// kind tells a JSON-RPC message apart by its top-level keys: a
// notification has a method and no id, a request both, a response an id
// and a result or error. It reads every top-level key (a "method" after
// the result makes a request of it for the SDK), skipping their values,
// and says kindUnknown for anything it does not read plainly (escapes in
// a key, malformed JSON).
func kind(data []byte) int {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return kindUnknown
	}
	var id, method, result bool
	for i++; ; {
		i = skipSpace(data, i)
		if i < len(data) && data[i] == '}' {
			break
		}
		if i >= len(data) || data[i] != '"' {
			return kindUnknown
		}
		end := i + 1
		for end < len(data) && data[end] != '"' && data[end] != '\\' {
			end++
		}
		if end >= len(data) || data[end] != '"' {
			return kindUnknown
		}
		switch string(data[i+1 : end]) {
		case "id":
			id = true
		case "method":
			method = true
		case "result", "error":
			result = true
		}
		i = skipSpace(data, end+1)
		if i >= len(data) || data[i] != ':' {
			return kindUnknown
		}
		if i = skipValue(data, skipSpace(data, i+1)); i < 0 {
			return kindUnknown
		}
		if i = skipSpace(data, i); i < len(data) && data[i] == ',' {
			i++
		}
	}
	switch {
	case method && !id && !result:
		return kindNotification
	case method && id && !result:
		return kindRequest
	case id && result && !method:
		return kindResponse
	}
	return kindUnknown
}

func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the index after the JSON value at data[i], or -1.
// It checks only what it needs to find the value's end.
func skipValue(data []byte, i int) int {
	depth := 0
	for ; i < len(data); i++ {
		switch c := data[i]; c {
		case '"':
			// To the closing quote, a run of plain bytes at a time
			// (most of a large result is the inside of its strings).
			for i++; ; i += 2 { // past a backslash and what it escapes
				if i >= len(data) {
					return -1
				}
				j := stringSpan(data[i:])
				if j < 0 {
					return -1
				}
				if i += j; data[i] == '"' {
					break
				}
			}
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return i // the end of an enclosing object: a literal ended here
			}
			depth--
		case ',', ' ', '\t', '\n', '\r':
			if depth == 0 {
				return i
			}
		}
		if depth == 0 && (data[i] == '"' || data[i] == '}' || data[i] == ']') {
			return i + 1
		}
	}
	if depth == 0 {
		return i
	}
	return -1
}
