package gateway

import (
	"bytes"
	"encoding/json"
	"io"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// FuzzJSONScan: fed a message at once or in pieces, jsonScan ends where
// encoding/json ends its value, and a message past the bound is answered
// for the request the SDK would read it as answering: by its top-level
// "id", never a nested one, and not at all when it has a "method".
func FuzzJSONScan(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":1,"result":{"ok":true}}`,
		`{"result":{"content":[{"type":"text","text":"x"}],"id":99},"jsonrpc":"2.0","id":"a\"b"}`,
		`{"jsonrpc":"2.0","id":7,"method":"sampling/createMessage","params":{}}`,
		`{"jsonrpc":"2.0","id":1,"id":2,"result":{}}`,
		`  {"id" : "x\\" , "result":[{"id":3}]}`,
		`{"a":"}\"{","id":-5e0}`,
		`[{"id":1}]`,
		`{"jsonrpc":"2.0","\u0069d":8,"result":{}}`,
		`{"id":1,"\u0069d":9,"result":{}}`,
		`{"\u006dethod":"ping","id":1}`,
	} {
		f.Add([]byte(s), uint8(0))
		f.Add([]byte(s), uint8(1))
	}
	f.Fuzz(func(t *testing.T, msg []byte, step uint8) {
		if len(msg) > 200 { // the ID captured is bounded (maxIDLen)
			return
		}
		dec := json.NewDecoder(bytes.NewReader(msg))
		var top json.RawMessage
		if dec.Decode(&top) != nil {
			return
		}
		end := int(dec.InputOffset())
		var s jsonScan
		n := 0
		for i := 0; i < len(msg) && !s.done; {
			j := len(msg)
			if step > 0 {
				j = min(i+int(step), len(msg))
			}
			n += s.feed(msg[i:j])
			i = j
		}
		if top[0] != '{' && top[0] != '[' {
			return // a bare scalar is no JSON-RPC message
		}
		if !s.done || n != end {
			t.Fatalf("%q: scan done=%v after %d bytes, encoding/json ends the value at %d", msg, s.done, n, end)
		}
		var members map[string]json.RawMessage
		if json.Unmarshal(top, &members) != nil {
			return // not an object: no ID
		}
		want := answeredID(members)
		var got jsonrpc.ID
		if a := s.errorAnswer(); a != nil {
			m, err := jsonrpc.DecodeMessage(a)
			if err != nil {
				t.Fatalf("%q: error answer %q: %v", msg, a, err)
			}
			got = m.(*jsonrpc.Response).ID
		}
		if got != want {
			t.Fatalf("%q: answered id %v, the SDK reads %v", msg, got.Raw(), want.Raw())
		}
	})
}

// answeredID is the ID of the request a message of these top-level
// members answers as the SDK decodes it: none when it has a method.
func answeredID(members map[string]json.RawMessage) jsonrpc.ID {
	raw, ok := members["id"]
	if _, method := members["method"]; method || !ok {
		return jsonrpc.ID{}
	}
	m, err := jsonrpc.DecodeMessage(append(append([]byte(`{"jsonrpc":"2.0","id":`), raw...), `,"result":{}}`...))
	if err != nil {
		return jsonrpc.ID{}
	}
	return m.(*jsonrpc.Response).ID
}

// chunkReader gives at most n bytes a Read.
type chunkReader struct {
	b []byte
	n int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	k := copy(p[:min(len(p), r.n)], r.b)
	r.b = r.b[k:]
	return k, nil
}

// FuzzStdioLines: whatever pieces a program's output comes in, no Read
// of stdioLines gives bytes after a line feed, and what it passes on is a
// sequence of JSON-RPC messages the SDK decodes (requests, notifications,
// responses, or batches of them), never a line the SDK's reader would
// fail the connection on.
// When the output is there to read at once (no pause of the program
// within a line), what passes on is exactly the lines that are one such
// message and blanks (stdioMessageLines).
func FuzzStdioLines(f *testing.F) {
	f.Add([]byte("{\"jsonrpc\":\"2.0\",\"a\":1}\n{\"b\":\"\\n\"}\n"), uint8(1))
	f.Add([]byte("{\"a\":1}{\"b\":2}\n\n{\"jsonrpc\":\"2.0\",\"c\":[\"}\"]}"), uint8(3))
	f.Add([]byte("not json\n{\"jsonrpc\":\"2.0\",\"id\":1}"), uint8(0))
	f.Add([]byte("Server started\n  [{\"jsonrpc\":\"2.0\"}] \r\n[INFO] ok\n{\"level\":30}\n"), uint8(255))
	f.Add([]byte("Server started\n  [{\"jsonrpc\":\"2.0\",\"method\":\"m\"}] \r\n[INFO] ok\n{\"level\":30}\n"), uint8(255))
	f.Add([]byte("{\"jsonrpc\":\"2.0\"}\n{\"jsonrpc\":\"2.0\",\"result\":{}}\n{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":1}}\n{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{}}\n"), uint8(9))
	f.Add([]byte("[]\n[{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}},{\"jsonrpc\":\"2.0\"}]\n{\"jsonrpc\":\"1.0\",\"id\":1,\"result\":{}}\n{\"jsonrpc\":\"2.0\",\"method\":7}\n"), uint8(255))
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8) {
		want, ok := stdioMessageLines(data)
		if !ok {
			return
		}
		lines := newStdioLines(&chunkReader{b: data, n: int(chunk) + 1}, len(data)+1, func(bool) {
			t.Fatalf("%q: a message dropped", data)
		})
		var out []byte
		p := make([]byte, 7)
		for {
			n, err := lines.Read(p)
			if i := bytes.IndexByte(p[:n], '\n'); i >= 0 && i < n-1 {
				t.Fatalf("%q: a Read gave %q, past a line feed", data, p[:n])
			}
			out = append(out, p[:n]...)
			if err != nil {
				break
			}
		}
		dec := json.NewDecoder(bytes.NewReader(out))
		for {
			var v json.RawMessage
			if err := dec.Decode(&v); err == io.EOF {
				break
			} else if err != nil || !isRPCValue(v) {
				t.Fatalf("%q: passed on %q, which holds what is no JSON-RPC message (%v)", data, out, err)
			}
		}
		if int(chunk)+1 >= len(data) && !bytes.Equal(out, want) {
			t.Fatalf("passed on %q for %q, want %q", out, data, want)
		}
	})
}

// stdioMessageLines is what stdioLines passes on of a program's output
// read at once: each line that holds one JSON-RPC message (isRPCValue)
// and blanks, as the message and its line feed. ok is false for output
// this cannot tell.
func stdioMessageLines(data []byte) (want []byte, ok bool) {
	for rest := data; len(rest) > 0; {
		line, after, nl := bytes.Cut(rest, []byte("\n"))
		rest = after
		t := bytes.TrimLeft(line, " \t\r")
		if len(t) == 0 || t[0] != '{' && t[0] != '[' {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(t))
		var v json.RawMessage
		if dec.Decode(&v) != nil {
			continue
		}
		if len(bytes.TrimLeft(t[dec.InputOffset():], " \t\r")) > 0 || !isRPCValue(v) {
			continue
		}
		want = append(want, v...)
		if nl {
			want = append(want, '\n')
		}
	}
	return want, true
}

// isRPCValue reports whether v is a JSON-RPC message the SDK's stdio
// reader takes without failing its connection: a request, notification
// or response it decodes, or a batch of them that is not empty.
func isRPCValue(v json.RawMessage) bool {
	v = bytes.TrimLeft(v, " \t\r\n")
	if len(v) == 0 {
		return false
	}
	if v[0] == '[' {
		var batch []json.RawMessage
		if json.Unmarshal(v, &batch) != nil || len(batch) == 0 {
			return false
		}
		for _, m := range batch {
			if _, err := jsonrpc.DecodeMessage(m); err != nil {
				return false
			}
		}
		return true
	}
	_, err := jsonrpc.DecodeMessage(v)
	return err == nil
}

// FuzzStdioLinesBound: of a program's messages, one a line, those within
// the bound pass on unchanged and each one past it is answered for the
// request the SDK would read it as answering, or dropped; the messages
// around it are not touched.
func FuzzStdioLinesBound(f *testing.F) {
	f.Add([]byte("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n{\"jsonrpc\":\"2.0\",\"id\":\"a\\\"b\",\"result\":{\"x\":\"yyyyyyyyyy\"}}\n{\"jsonrpc\":\"2.0\",\"id\":2}\n"), uint8(45), uint8(4))
	f.Add([]byte("{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":1,\"params\":{\"p\":\"qqqqqqqqqqqqqqqq\"}}\n{\"jsonrpc\":\"2.0\",\"\\u0069d\":7,\"result\":[1,2,3,4,5,6,7,8,9]}"), uint8(40), uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, limit, chunk uint8) {
		type want struct {
			raw string // passed on as is
			id  any    // or answered with an error for this id (nil: dropped)
		}
		var wants []want
		rest := data
		for len(rest) > 0 {
			line, after, nl := bytes.Cut(rest, []byte("\n"))
			rest = after
			var members map[string]json.RawMessage
			if len(line) == 0 || line[0] != '{' || !bytes.Equal(bytes.TrimSpace(line), line) || json.Unmarshal(line, &members) != nil {
				// One JSON object a line only. (Space after one is a
				// message of its own when the program pauses before it.)
				return
			}
			if !isRPCValue(line) {
				return // a line that is no JSON-RPC message is skipped (FuzzStdioLines)
			}
			if nl && len(line) == int(limit) {
				// Within the bound but for its line feed: passed on
				// when the program pauses before the line feed.
				return
			}
			if size := len(line); size < int(limit) || size == int(limit) && !nl {
				wants = append(wants, want{raw: string(line)})
			} else if id := answeredID(members); id.IsValid() {
				wants = append(wants, want{id: id.Raw()})
			}
		}
		lines := newStdioLines(&chunkReader{b: data, n: int(chunk) + 1}, int(limit), nil)
		dec := json.NewDecoder(lines)
		for i := 0; ; i++ {
			var raw json.RawMessage
			err := dec.Decode(&raw)
			if err == io.EOF && i == len(wants) {
				return
			}
			if err != nil || i >= len(wants) {
				t.Fatalf("%q bound %d: message %d: %v (%d expected)", data, limit, i, err, len(wants))
			}
			w := wants[i]
			if w.id == nil {
				if string(raw) != w.raw {
					t.Fatalf("%q bound %d: message %d is %s, want %s", data, limit, i, raw, w.raw)
				}
				continue
			}
			m, err := jsonrpc.DecodeMessage(raw)
			r, ok := m.(*jsonrpc.Response)
			if err != nil || !ok || r.Error == nil || r.ID.Raw() != w.id {
				t.Fatalf("%q bound %d: message %d is %s, want an error answering %v", data, limit, i, raw, w.id)
			}
		}
	})
}
