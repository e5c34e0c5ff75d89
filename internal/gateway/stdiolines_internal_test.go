package gateway

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// readMessages decodes what stdioLines passes on, as the SDK does.
func readMessages(t *testing.T, r io.Reader) []map[string]any {
	t.Helper()
	dec := json.NewDecoder(r)
	var out []map[string]any
	for {
		var m map[string]any
		if err := dec.Decode(&m); err == io.EOF {
			return out
		} else if err != nil {
			t.Fatalf("decoding what was passed on: %v", err)
		}
		out = append(out, m)
	}
}

// A message past the bound is not passed on: one answering a request is
// stood in for by an error answering that request, wherever its "id" is
// among its members (the TypeScript SDK writes it after the result), an
// "id" nested deeper is not taken for it, and one answering nothing is
// dropped, but for a request of the upstream's, which is refused back to
// it. The messages around it pass unchanged.
func TestStdioLinesStandInForMessagesPastTheBound(t *testing.T) {
	big := strings.Repeat("x", 200)
	in := strings.Join([]string{
		`{"jsonrpc":"2.0","id":1,"result":{"ok":true}}`,
		`{"result":{"content":[{"type":"text","text":"` + big + `"}],"id":99},"jsonrpc":"2.0","id":"a\"b"}`,
		`{"jsonrpc":"2.0","method":"notifications/message","params":{"data":"` + big + `"}}`,
		`{"jsonrpc":"2.0","id":7,"method":"sampling/createMessage","params":{"x":"` + big + `"}}`,
		`{"jsonrpc":"2.0","result":{"big":"` + big + `"}}`,
		`{"jsonrpc":"2.0","id":3,"result":{"big":"` + big + `"}}`,
		`{"jsonrpc":"2.0","id":4,"result":{}}`,
	}, "\n") + "\n"
	var answered, dropped int
	lines := newStdioLines(strings.NewReader(in), 150, func(a bool) {
		if a {
			answered++
		} else {
			dropped++
		}
	})
	var refused []jsonrpc.ID
	lines.refuse = func(id jsonrpc.ID) { refused = append(refused, id) }
	got := readMessages(t, lines)
	if len(got) != 4 {
		t.Fatalf("passed on %d messages, want 4: %v", len(got), got)
	}
	if got[0]["id"] != 1.0 || got[3]["id"] != 4.0 {
		t.Errorf("the messages within the bound: %v", got)
	}
	for i, id := range map[int]any{1: `a"b`, 2: 3.0} {
		e, _ := got[i]["error"].(map[string]any)
		if got[i]["id"] != id || e == nil || !strings.Contains(e["message"].(string), "larger than 16 MiB") || got[i]["result"] != nil {
			t.Errorf("message %d: %v, want an error answering %v", i, got[i], id)
		}
	}
	// The upstream's request past the bound is answered back to it.
	if seven, _ := jsonrpc.MakeID(float64(7)); len(refused) != 1 || refused[0] != seven {
		t.Errorf("refused the upstream's requests %v, want [7]", refused)
	}
	if answered != 3 || dropped != 2 {
		t.Errorf("told of %d answered and %d dropped, want 3 and 2", answered, dropped)
	}
}

// A message the program wrote without its line feed is passed on without
// waiting for one (the SDK's reader takes such messages), and one Read
// never gives bytes of two messages.
func TestStdioLinesPassesAMessageWithoutLineFeed(t *testing.T) {
	pr, pw := io.Pipe()
	defer pw.Close()
	go pw.Write([]byte(`{"jsonrpc":"2.0","id":1,"result":{"s":"}\"{"}}`))
	lines := newStdioLines(pr, 1<<10, nil)
	got := make(chan string, 1)
	go func() {
		b := make([]byte, 100)
		n, _ := lines.Read(b)
		got <- string(b[:n])
	}()
	select {
	case s := <-got:
		if s != `{"jsonrpc":"2.0","id":1,"result":{"s":"}\"{"}}` {
			t.Errorf("passed on %q", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a message without its line feed was held")
	}

	one, two := `{"jsonrpc":"2.0","id":1,"result":{}}`+"\n", `{"jsonrpc":"2.0","id":2,"result":{}}`+"\n"
	lines = newStdioLines(strings.NewReader(one+two), 1<<10, nil)
	b := make([]byte, 100)
	if n, _ := lines.Read(b); string(b[:n]) != one {
		t.Errorf("first Read gave %q, want one message", b[:n])
	}
}

// BenchmarkStdioLines: what reading a stdio upstream's output through
// stdioLines costs, against the SDK's decoder reading it directly.
func BenchmarkStdioLines(b *testing.B) {
	for _, size := range []int{1 << 10, 1 << 20} {
		msg := `{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"` + strings.Repeat("x", size) + `"}]}}` + "\n"
		for _, through := range []bool{false, true} {
			name := fmt.Sprintf("%dKiB/direct", size>>10)
			if through {
				name = fmt.Sprintf("%dKiB/stdioLines", size>>10)
			}
			b.Run(name, func(b *testing.B) {
				b.SetBytes(int64(64 * len(msg)))
				in := strings.NewReader(strings.Repeat(msg, 64))
				for b.Loop() {
					in.Seek(0, io.SeekStart)
					var r io.Reader = in
					if through {
						r = newStdioLines(in, maxUpstreamBody, nil)
					}
					dec := json.NewDecoder(r)
					for range 64 {
						var raw json.RawMessage
						if err := dec.Decode(&raw); err != nil {
							b.Fatal(err)
						}
					}
				}
			})
		}
	}
}

// jsonScan finds where a value ends whatever its strings hold, fed at
// once or a byte at a time.
func TestJSONScanFindsTheEnd(t *testing.T) {
	for _, text := range []string{
		`{"a":"\\"}`, `{"a":"\"}"}`, `{"a":["}",{"b":"]"}]}`, `{"id":"\\\"","x":1}`, `[{"a":1},{"b":"\\\\"}]`,
	} {
		for _, step := range []int{len(text), 1} {
			var s jsonScan
			n := 0
			for i := 0; i < len(text) && !s.done; i += step {
				n += s.feed([]byte(text[i:min(i+step, len(text))]))
			}
			if !s.done || n != len(text) {
				t.Errorf("%s fed %d at a time: done=%v after %d bytes, want the end at %d", text, step, s.done, n, len(text))
			}
			if s.feed([]byte(" {")) != 0 {
				t.Errorf("%s: fed past its end", text)
			}
		}
	}
	var s jsonScan
	s.feed([]byte(`{"id":"\\\"","x":1}`))
	if string(s.id) != `"\\\""` || !s.hasID {
		t.Errorf("id %s", s.id)
	}
}

// A stdio upstream's lines that are no JSON-RPC message (a banner, a log
// line, an empty one) are skipped, and each but the blank ones told of,
// cut short; the messages around them pass whole, one a Read, however
// the program's writes split them (here a byte a Read, then at once),
// and without the blanks after them, which the SDK's decoder fails on.
func TestStdioLinesSkipsStrayLines(t *testing.T) {
	long := "x" + strings.Repeat("y", 10_000)
	in := strings.Join([]string{
		"Server started",
		`{"jsonrpc":"2.0","id":1,"result":{"s":"a\nb"}}`,
		"",
		"  \t\r",
		"[INFO] ready",
		"[2025-01-02 10:00]",
		"{oops",
		`{"level":30,"msg":"ready","data":{"jsonrpc":"2.0"}}`,
		long,
		` {"jsonrpc":"2.0","method":"notifications/message","params":{}}  ` + "\r",
		`[{"jsonrpc":"2.0","id":2,"result":{}}]`,
		"Bye",
	}, "\n")
	for _, oneByte := range []bool{true, false} {
		var r io.Reader = strings.NewReader(in)
		if oneByte {
			r = iotest.OneByteReader(r)
		}
		lines := newStdioLines(r, 1<<20, nil)
		var strays []string
		lines.stray = func(line []byte) { strays = append(strays, string(line)) }
		var reads []string
		for {
			b := make([]byte, 1<<20)
			n, err := lines.Read(b)
			if n > 0 {
				// Read a byte at a time, a message is passed on
				// without waiting for its line feed.
				reads = append(reads, strings.TrimSuffix(string(b[:n]), "\n"))
			}
			if err != nil {
				break
			}
		}
		want := []string{
			`{"jsonrpc":"2.0","id":1,"result":{"s":"a\nb"}}`,
			`{"jsonrpc":"2.0","method":"notifications/message","params":{}}`,
			`[{"jsonrpc":"2.0","id":2,"result":{}}]`,
		}
		if !slices.Equal(reads, want) {
			t.Errorf("one byte a Read %v: passed on %q, want %q", oneByte, reads, want)
		}
		wantStray := []string{"Server started", "[INFO] ready", "[2025-01-02 10:00]", "{oops", `{"level":30,"msg":"ready","data":{"jsonrpc":"2.0"}}`, long[:maxStrayLine], "Bye"}
		if !slices.Equal(strays, wantStray) {
			t.Errorf("one byte a Read %v: told of %q, want %q", oneByte, strays, wantStray)
		}
	}
}
