package gateway

//lint:file-ignore SA1019 the tagged messages are log notifications, deprecated from protocol revision 2026-07-28 on but relayed for the revisions before it.

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func TestTagMessage(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"a notification without params gets them",
			`{"jsonrpc":"2.0","method":"notifications/message"}`,
			`{"jsonrpc":"2.0","method":"notifications/message","params":{"_meta":{"gatehouse/call":"T"}}}`},
		{"params without _meta",
			`{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"x"}}`,
			`{"jsonrpc":"2.0","method":"notifications/message","params":{"_meta":{"gatehouse/call":"T"},"data":"x","level":"info"}}`},
		{"the upstream's _meta is kept, a tag of its own replaced",
			`{"jsonrpc":"2.0","id":3,"method":"sampling/createMessage","params":{"_meta":{"k":1,"gatehouse/call":"forged"},"maxTokens":10}}`,
			`{"id":3,"jsonrpc":"2.0","method":"sampling/createMessage","params":{"_meta":{"gatehouse/call":"T","k":1},"maxTokens":10}}`},
		{"a response is not tagged", `{"jsonrpc":"2.0","id":7,"result":{}}`, `{"jsonrpc":"2.0","id":7,"result":{}}`},
		{"params not an object", `{"jsonrpc":"2.0","method":"m","params":[1]}`, `{"jsonrpc":"2.0","method":"m","params":[1]}`},
		{"params null", `{"jsonrpc":"2.0","method":"m","params":null}`, `{"jsonrpc":"2.0","method":"m","params":null}`},
		{"_meta not an object", `{"jsonrpc":"2.0","method":"m","params":{"_meta":"x"}}`, `{"jsonrpc":"2.0","method":"m","params":{"_meta":"x"}}`},
		{"not JSON", `not json`, `not json`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := string(tagMessage([]byte(tc.in), "T"))
			if tc.want == tc.in {
				if got != tc.want {
					t.Errorf("changed: %s", got)
				}
				return
			}
			var g, w any
			if err := json.Unmarshal([]byte(got), &g); err != nil {
				t.Fatalf("%s: %v", got, err)
			}
			json.Unmarshal([]byte(tc.want), &w)
			gb, _ := json.Marshal(g)
			wb, _ := json.Marshal(w)
			if string(gb) != string(wb) {
				t.Errorf("got  %s\nwant %s", gb, wb)
			}
		})
	}
}

// TestEventsTaggedOnACallsStream: on a call's stream every notification
// and request gets the call's tag, on one data line, with the event's
// other lines kept; responses and other streams' events pass as they are.
func TestEventsTaggedOnACallsStream(t *testing.T) {
	in := "event: message\r\nid: 1\r\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\r\ndata: \"params\":{\"level\":\"info\",\"data\":\"hi\"}}\r\n\r\n" + sseResp
	read := func(tag string) string {
		body := &eventBarriers{rc: io.NopCloser(nil), r: bufio.NewReader(iotest.OneByteReader(strings.NewReader(in))), s: stream{b: newBarriers()}, tag: tag}
		got, err := io.ReadAll(body)
		if err != nil {
			t.Fatal(err)
		}
		return string(got)
	}
	got := read("T")
	// The data line ends with \n, then the event's own blank line.
	first := got[:strings.Index(got, "\n\r\n")+3]
	if !strings.HasPrefix(first, "event: message\r\nid: 1\r\ndata: {") || strings.Count(first, "data:") != 1 {
		t.Fatalf("the tagged event: %q", first)
	}
	data := strings.TrimSuffix(strings.SplitN(first, "data: ", 2)[1], "\n\r\n")
	var msg struct {
		Params mcp.LoggingMessageParams `json:"params"`
	}
	if err := json.Unmarshal([]byte(data), &msg); err != nil {
		t.Fatalf("%q: %v", data, err)
	}
	if msg.Params.Meta[metaCallTag] != "T" || msg.Params.Data != "hi" {
		t.Errorf("the tagged message: %+v", msg.Params)
	}
	if !strings.HasSuffix(got, sseResp) {
		t.Errorf("the response changed: %q", got)
	}
	if strings.Contains(got[len(first):], metaCallTag) {
		t.Errorf("what followed the notification was tagged: %q", got)
	}
	if untagged := read(""); strings.Contains(untagged, metaCallTag) {
		t.Errorf("a stream of no call was tagged: %q", untagged)
	}
}

// TestForMessage: a tagged message goes to its call; an untagged one to
// the call sole finds; one whose tag names no call running (over, or made
// up) to none, even when sole has a candidate; nor does a sampling or
// elicitation request go to a call already answered, nor anything to one
// whose caller gave up.
func TestForMessage(t *testing.T) {
	bg := context.Background()
	call := func(answered, abandoned bool) *inflightCall {
		return &inflightCall{ctx: bg, session: &mcp.ServerSession{}, caller: "alice\x00agent", answered: answered, abandoned: abandoned}
	}
	c := &upConn{}
	running, answered, abandoned := call(false, false), call(true, false), call(false, true)
	c.begin(running)
	c.tags.Store("T", running)
	c.tags.Store("A", answered)
	c.tags.Store("G", abandoned)
	for _, tc := range []struct {
		name    string
		ctx     context.Context
		request bool
		want    *inflightCall
	}{
		{"tagged", withCallTag(bg, "T"), false, running},
		{"a request, tagged", withCallTag(bg, "T"), true, running},
		{"untagged, one call running (sole)", bg, false, running},
		{"a tag of a call that is over", withCallTag(bg, "over"), false, nil},
		{"an empty tag", withCallTag(bg, ""), false, nil},
		{"a late log message of an answered call", withCallTag(bg, "A"), false, answered},
		{"a request of an answered call", withCallTag(bg, "A"), true, nil},
		{"a call its caller gave up", withCallTag(bg, "G"), false, nil},
	} {
		got := c.forMessage(tc.ctx)
		if tc.request {
			got = c.forRequest(tc.ctx)
		}
		if got != tc.want {
			t.Errorf("%s: got %p, want %p", tc.name, got, tc.want)
		}
	}
}
