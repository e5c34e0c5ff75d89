package gateway

import (
	"bytes"
	"encoding/json"
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
