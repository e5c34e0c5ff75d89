package gateway

//lint:file-ignore SA1019 a barrier is a log notification the gateway makes for itself and takes off its own client's queue; logging is deprecated from protocol revision 2026-07-28 on but handled by the SDK's client in every revision.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

const (
	sseNote  = "event: message\r\nid: 1\r\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\r\ndata: \"params\":{\"progressToken\":\"p\",\"progress\":1}}\r\n\r\n"
	ssePing  = "event: ping\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{}}\n\n"
	ssePrime = "id: 0\ndata:\n\n"
	sseResp  = "id: 2\ndata: {\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{}}\n\n"
)

// barrierEvent is the event eventBarriers writes for the nth barrier of b.
func barrierEvent(t *testing.T, b *barriers, n uint64) string {
	t.Helper()
	params, err := json.Marshal(mcp.LoggingMessageParams{Level: "debug", Logger: b.logger, Data: n})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jsonrpc.EncodeMessage(&jsonrpc.Request{Method: methodLog,
		Params: params})
	if err != nil {
		t.Fatal(err)
	}
	return "data: " + string(raw) + "\n\n"
}

func TestEventBarriers(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     func(*barriers) string
	}{
		{"a response after a notification gets a barrier", sseNote + sseResp,
			func(b *barriers) string { return sseNote + barrierEvent(t, b, 1) + sseResp }},
		{"a response alone gets none", sseResp, func(*barriers) string { return sseResp }},
		{"named and empty events are not notifications", ssePing + ssePrime + sseResp,
			func(*barriers) string { return ssePing + ssePrime + sseResp }},
		{"one barrier per run of notifications", sseNote + sseNote + sseResp + sseResp + sseNote + sseResp,
			func(b *barriers) string {
				return sseNote + sseNote + barrierEvent(t, b, 1) + sseResp + sseResp + sseNote + barrierEvent(t, b, 2) + sseResp
			}},
		{"the last event without its blank line passes as it is", sseNote + strings.TrimSuffix(sseResp, "\n\n"),
			func(b *barriers) string { return sseNote + barrierEvent(t, b, 1) + strings.TrimSuffix(sseResp, "\n\n") }},
		{"what is not JSON-RPC passes as it is", "data: not json\n\n" + sseResp,
			func(*barriers) string { return "data: not json\n\n" + sseResp }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBarriers()
			// One byte at a time: events are put together across reads.
			body := &eventBarriers{rc: io.NopCloser(nil), r: bufio.NewReader(iotest.OneByteReader(strings.NewReader(tc.in))), s: stream{b: b}}
			got, err := io.ReadAll(iotest.OneByteReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if want := tc.want(b); string(got) != want {
				t.Errorf("got\n%q\nwant\n%q", got, want)
			}
		})
	}
}

func TestEventBarriersPassErrorsOn(t *testing.T) {
	boom := errors.New("connection reset")
	body := &eventBarriers{r: bufio.NewReader(io.MultiReader(strings.NewReader(sseResp), iotest.ErrReader(boom))), s: stream{b: newBarriers()}}
	got, err := io.ReadAll(body)
	if !errors.Is(err, boom) || string(got) != sseResp {
		t.Fatalf("got %q, %v; want the event, then %v", got, err, boom)
	}
}

// TestEventBarriersBoundAnEvent: an upstream that never ends an event (one
// endless line here) makes the stream fail once the event passes the
// bound, having read little more than it; what came before passes.
func TestEventBarriersBoundAnEvent(t *testing.T) {
	endless := &countingReader{r: iotest.OneByteReader(neverEnding('a'))}
	src := io.MultiReader(strings.NewReader(sseResp+"data: "), endless)
	body := &eventBarriers{r: bufio.NewReader(src), s: stream{b: newBarriers()}}
	got, err := io.ReadAll(body)
	if !errors.Is(err, errEventTooLarge) || string(got) != sseResp {
		t.Fatalf("got %d bytes, %v; want the first event, then %v", len(got), err, errEventTooLarge)
	}
	if endless.n > maxUpstreamEvent+64<<10 {
		t.Errorf("read %d bytes of the endless event, bound %d", endless.n, maxUpstreamEvent)
	}
}

type neverEnding byte

func (b neverEnding) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(b)
	}
	return len(p), nil
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestBarrierConnHoldsTheResponse(t *testing.T) {
	b := newBarriers()
	note := &jsonrpc.Request{Method: "notifications/progress", Params: []byte(`{"progressToken":"p","progress":1}`)}
	id, _ := jsonrpc.MakeID(float64(7))
	resp := &jsonrpc.Response{ID: id, Result: []byte(`{}`)}
	c := &barrierConn{Connection: &fakeConn{msgs: []jsonrpc.Message{note, resp, resp}}, s: stream{b: b}}
	var methods []string
	for range 4 {
		m, err := c.Read(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		switch m := m.(type) {
		case *jsonrpc.Request:
			methods = append(methods, m.Method)
		case *jsonrpc.Response:
			methods = append(methods, "response")
		}
	}
	if want := []string{"notifications/progress", methodLog, "response", "response"}; strings.Join(methods, " ") != strings.Join(want, " ") {
		t.Errorf("read %v, want %v", methods, want)
	}
}

func TestBarriersWait(t *testing.T) {
	b := newBarriers()
	start := time.Now()
	b.wait(context.Background()) // nothing put: no wait
	bar := b.put()
	var p mcp.LoggingMessageParams
	if err := json.Unmarshal(bar.Params, &p); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { b.wait(context.Background()); close(done) }()
	select {
	case <-done:
		t.Fatal("wait returned before the barrier was handled")
	case <-time.After(50 * time.Millisecond):
	}
	if b.take(&mcp.LoggingMessageParams{Logger: "someone else", Data: p.Data}) {
		t.Fatal("took another logger's message for a barrier")
	}
	if !b.take(&p) {
		t.Fatal("did not take its own barrier")
	}
	<-done
	if time.Since(start) > barrierWait {
		t.Fatal("waited for the bound, not for the barrier")
	}
	// A cancelled caller and a closed connection stop the wait.
	b.put()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	b.wait(ctx)
	go b.close()
	b.wait(context.Background())
}

type fakeConn struct {
	mcp.Connection
	msgs []jsonrpc.Message
}

func (f *fakeConn) Read(context.Context) (jsonrpc.Message, error) {
	if len(f.msgs) == 0 {
		return nil, io.EOF
	}
	m := f.msgs[0]
	f.msgs = f.msgs[1:]
	return m, nil
}

func TestKind(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
	}{
		{`{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"x"}]}}`, kindResponse},
		{`{"jsonrpc":"2.0","id":"a","error":{"code":-1,"message":"no"}}`, kindResponse},
		{`{"result":{},"jsonrpc":"2.0","id":7}`, kindResponse},
		{` { "jsonrpc" : "2.0" , "method" : "notifications/progress" , "params" : {"id":1,"s":"}\"{"} } `, kindNotification},
		{`{"jsonrpc":"2.0","method":"notifications/message","params":{"data":[1,2,{"result":true}],"n":-1.5e3,"ok":true,"z":null}}`, kindNotification},
		{`{"jsonrpc":"2.0","id":3,"method":"sampling/createMessage","params":{}}`, kindRequest},
		{`{"jsonrpc":"2.0","method":"x","params":{},"id":3}`, kindRequest},
		{`{"jsonrpc":"2.0","id":3,"result":{},"method":"x"}`, kindUnknown}, // the SDK reads a request: decoded instead
		{`{"jsonrpc":"2.0","\u0069d":7,"result":{}}`, kindUnknown},         // an escaped key: decoded instead
		{`{"jsonrpc":"2.0","method":"x","params":{`, kindUnknown},
		{`[1]`, kindUnknown},
		{`{"jsonrpc":"2.0","id":7}`, kindUnknown},
		{``, kindUnknown},
	} {
		if got := kind([]byte(tc.in)); got != tc.want {
			t.Errorf("kind(%s) = %d, want %d", tc.in, got, tc.want)
		}
		// Where kind is sure, the SDK's decoder agrees.
		if tc.want == kindUnknown {
			continue
		}
		m, err := jsonrpc.DecodeMessage([]byte(tc.in))
		if err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		switch m := m.(type) {
		case *jsonrpc.Request:
			if (tc.want == kindNotification) == m.ID.IsValid() || tc.want == kindResponse {
				t.Errorf("%s: the SDK reads a request with id %v", tc.in, m.ID)
			}
		case *jsonrpc.Response:
			if tc.want != kindResponse {
				t.Errorf("%s: the SDK reads a response", tc.in)
			}
		}
	}
}

// FuzzKind: where kind tells a message apart, the SDK's decoder, when it
// accepts the message, reads the same kind.
func FuzzKind(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":7,"result":{}}`,
		`{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"p"}}`,
		`{"jsonrpc":"2.0","id":3,"method":"ping"}`,
		`{"jsonrpc":"2.0","method":"x","params":{"s":"\"}{"}}`,
		`{"jsonrpc":"2.0","id":3,"result":{},"method":"x"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		k := kind(data)
		m, err := jsonrpc.DecodeMessage(data)
		if k == kindUnknown || err != nil {
			return
		}
		switch m := m.(type) {
		case *jsonrpc.Request:
			if k == kindResponse || (k == kindNotification) == m.ID.IsValid() {
				t.Fatalf("kind %d, the SDK reads a request with id %v: %s", k, m.ID, data)
			}
		case *jsonrpc.Response:
			if k != kindResponse {
				t.Fatalf("kind %d, the SDK reads a response: %s", k, data)
			}
		}
	})
}

// TestBarrierReadAfterClose: a barrier read off the connection after the
// connection was reported closed is taken quietly. Before, it closed the
// already closed channel of waiters and the gateway crashed; only the
// order in which the SDK reports a close kept that from happening.
func TestBarrierReadAfterClose(t *testing.T) {
	b := newBarriers()
	var p mcp.LoggingMessageParams
	if err := json.Unmarshal(b.put().Params, &p); err != nil {
		t.Fatal(err)
	}
	b.close()
	if !b.take(&p) {
		t.Error("the barrier was not recognised as one")
	}
	b.wait(context.Background()) // returns: the connection is gone
}
