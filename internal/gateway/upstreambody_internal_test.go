package gateway

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// TestBoundedBody: a body within the bound passes as it is; an endless one
// is read little past the bound and becomes an error answering the request
// when it is a JSON-RPC answer, a read error otherwise.
func TestBoundedBody(t *testing.T) {
	post := func(body string) *http.Request {
		r, err := http.NewRequest(http.MethodPost, "http://upstream.invalid/mcp", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	call := post(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"huge"}}`)

	t.Run("within the bound", func(t *testing.T) {
		want := `{"jsonrpc":"2.0","id":7,"result":{}}`
		b := &boundedBody{rc: io.NopCloser(strings.NewReader(want)), req: call, answer: true}
		if got, err := io.ReadAll(b); err != nil || string(got) != want {
			t.Errorf("got %q, %v", got, err)
		}
	})
	t.Run("an endless answer", func(t *testing.T) {
		endless := &countingReader{r: neverEnding('a')}
		got, err := io.ReadAll(&boundedBody{rc: io.NopCloser(endless), req: call, answer: true})
		if err != nil {
			t.Fatal(err)
		}
		msg, err := jsonrpc.DecodeMessage(got)
		resp, ok := msg.(*jsonrpc.Response)
		if err != nil || !ok || resp.ID.Raw() != int64(7) {
			t.Fatalf("got %q (%v), want an answer to request 7", got, err)
		}
		var rpc *jsonrpc.Error
		if !errors.As(resp.Error, &rpc) || rpc.Code != jsonrpc.CodeInternalError || !strings.Contains(rpc.Message, "larger than 16 MiB") {
			t.Errorf("error = %v", resp.Error)
		}
		if endless.n > maxUpstreamBody+64<<10 {
			t.Errorf("read %d bytes of the endless answer, bound %d", endless.n, maxUpstreamBody)
		}
	})
	for name, b := range map[string]*boundedBody{
		"not an answer":        {rc: io.NopCloser(neverEnding('a')), req: call},
		"an answer to nothing": {rc: io.NopCloser(neverEnding('a')), req: post(`{"jsonrpc":"2.0","method":"notifications/initialized"}`), answer: true},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := io.ReadAll(b)
			if !errors.Is(err, errAnswerTooLarge) || len(got) != 0 {
				t.Errorf("got %d bytes, %v; want none, then %v", len(got), err, errAnswerTooLarge)
			}
		})
	}
}

// TestEventBarriersAnswerAnEventTooLarge: a call's stream whose event
// passes the bound ends with an error answering the call, after a barrier
// when notifications came before it.
func TestEventBarriersAnswerAnEventTooLarge(t *testing.T) {
	r, err := http.NewRequest(http.MethodPost, "http://upstream.invalid/mcp",
		strings.NewReader(`{"jsonrpc":"2.0","id":"c1","method":"tools/call","params":{"name":"huge"}}`))
	if err != nil {
		t.Fatal(err)
	}
	note := "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":\"p\",\"progress\":1}}\n\n"
	src := io.MultiReader(strings.NewReader(note+"data: "), neverEnding('a'))
	b := newBarriers()
	got, err := io.ReadAll(&eventBarriers{rc: io.NopCloser(nil), r: bufio.NewReader(src), s: stream{b: b}, req: r})
	if err != nil {
		t.Fatal(err)
	}
	events := strings.Split(strings.TrimSuffix(string(got), "\n\n"), "\n\n")
	if len(events) != 3 || events[0]+"\n\n" != note || !strings.Contains(events[1], b.logger) {
		t.Fatalf("events = %q, want the notification, a barrier and the answer", events)
	}
	msg, err := jsonrpc.DecodeMessage([]byte(strings.TrimPrefix(events[2], "data: ")))
	resp, ok := msg.(*jsonrpc.Response)
	if err != nil || !ok || resp.ID.Raw() != "c1" || resp.Error == nil || !strings.Contains(resp.Error.Error(), "larger than 16 MiB") {
		t.Errorf("answer = %q (%v)", events[2], err)
	}
}
