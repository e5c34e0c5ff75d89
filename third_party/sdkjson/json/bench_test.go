package json

import (
	"bytes"
	stdjson "encoding/json"
	"testing"
)

// BenchmarkDecode decodes a JSON-RPC request as the SDK's Unmarshal does.
func BenchmarkDecode(b *testing.B) {
	msg := []byte(`{"jsonrpc":"2.0","id":17,"method":"tools/call","params":{"_meta":{"progressToken":"abc"},"name":"echo","arguments":{"msg":"hello"}}}`)
	var m struct {
		JSONRPC string             `json:"jsonrpc"`
		ID      any                `json:"id,omitempty"`
		Method  string             `json:"method,omitempty"`
		Params  stdjson.RawMessage `json:"params,omitempty"`
	}
	b.ReportAllocs()
	for b.Loop() {
		d := NewDecoder(bytes.NewReader(msg))
		d.DontMatchCaseInsensitiveStructFields()
		if err := d.Decode(&m); err != nil {
			b.Fatal(err)
		}
	}
}
