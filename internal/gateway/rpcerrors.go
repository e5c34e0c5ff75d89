package gateway

// Design note: a message /mcp cannot take is answered in JSON-RPC.
//
// The SDK answers a POST it refuses with 400 and a line of plain text in
// its own words ("malformed payload: unmarshaling jsonrpc message: json:
// cannot unmarshal number into Go value of type jsonrpc2.wireDecode"). A
// client speaks JSON-RPC, and the MCP transport lets such a 400 carry a
// JSON-RPC error. So the gateway holds back a plain-text 400 the SDK writes
// to a POST, reads the message itself and answers with an error of its own
// wording: -32700 when the body is not JSON, -32600 when it is not a
// JSON-RPC message (the field at fault named), -32601 for a method /mcp
// does not serve. A 400 about something else (a header, the protocol
// revision) keeps the SDK's text, as a -32600 error. Other statuses (404
// for an unknown session, which tells a client to start another) pass as
// they are. A well-formed message costs a copy of its body, looked at
// only when the SDK refused it.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/clip"
)

// answerInJSONRPC serves a POST through next, turning a plain-text 400
// into a JSON-RPC error (see the design note above).
func answerInJSONRPC(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Body == nil {
			next.ServeHTTP(w, r)
			return
		}
		body := &keptBody{ReadCloser: r.Body}
		r.Body = body
		hw := &holdingWriter{ResponseWriter: w}
		next.ServeHTTP(hw, r)
		if !hw.held {
			return
		}
		// What the SDK did not read (it refused on a header first) is
		// read now, within the SDK's own bound on a body, so the message
		// itself is judged.
		rest, _ := io.ReadAll(io.LimitReader(body.ReadCloser, mcp.DefaultMaxRequestBodyBytes-int64(len(body.kept))))
		msg := append(body.kept, rest...)
		id, code, text := judgeMessage(msg, r.Header.Get("Mcp-Protocol-Version"), strings.TrimSpace(hw.text.String()))
		h := w.Header()
		h.Del("Content-Length")
		h.Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(rpcErrorMessage{JSONRPC: "2.0", ID: id, Error: rpcError{Code: code, Message: text}})
	})
}

// rpcErrorMessage is a JSON-RPC error response.
type rpcErrorMessage struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Error   rpcError        `json:"error"`
}

type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// keptBody keeps a copy of what is read of a request body.
type keptBody struct {
	io.ReadCloser
	kept []byte
}

func (b *keptBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.kept = append(b.kept, p[:n]...)
	return n, err
}

// holdingWriter holds back a plain-text 400 (its text in text) and
// passes every other answer on as it is written.
type holdingWriter struct {
	http.ResponseWriter
	started, held bool
	text          bytes.Buffer
}

func (w *holdingWriter) WriteHeader(code int) {
	if w.started {
		return
	}
	w.started = true
	if code == http.StatusBadRequest && strings.HasPrefix(w.Header().Get("Content-Type"), "text/plain") {
		w.held = true
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *holdingWriter) Write(p []byte) (int, error) {
	if !w.started {
		w.WriteHeader(http.StatusOK)
	}
	if w.held {
		if w.text.Len() < 1024 {
			w.text.Write(p)
		}
		return len(p), nil
	}
	return w.ResponseWriter.Write(p)
}

// Flush passes on unless the answer is held back.
func (w *holdingWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok && !w.held {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection (streams).
func (w *holdingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// judgeMessage says what is wrong with body, a POST's message the SDK
// refused with sdkText: the id to answer with (null when there is no
// usable one), a JSON-RPC error code and a message naming the fault.
func judgeMessage(body []byte, version, sdkText string) (id json.RawMessage, code int, text string) {
	null := json.RawMessage("null")
	trimmed := bytes.TrimSpace(body)
	id = null
	switch {
	case len(trimmed) == 0:
		return null, jsonrpc.CodeInvalidRequest, "Invalid Request: the request has no body; send one JSON-RPC message"
	case !json.Valid(trimmed):
		return null, jsonrpc.CodeParseError, "Parse error: the request body is not valid JSON"
	case trimmed[0] == '[':
		var batch []json.RawMessage
		_ = json.Unmarshal(trimmed, &batch)
		if version >= "2025-06-18" {
			return null, jsonrpc.CodeInvalidRequest, "Invalid Request: this protocol revision takes one JSON-RPC message per request, not a batch"
		}
		if len(batch) == 0 {
			return null, jsonrpc.CodeInvalidRequest, "Invalid Request: the batch is empty"
		}
		for i, m := range batch {
			if _, code, text := judgeOne(m); code != 0 {
				return null, code, fmt.Sprintf("%s (message %d of the batch)", text, i+1)
			}
		}
	default:
		if id, code, text = judgeOne(trimmed); code != 0 {
			return id, code, text
		}
		if strings.Contains(sdkText, "not handled") {
			var m struct {
				Method string `json:"method"`
			}
			_ = json.Unmarshal(trimmed, &m)
			return id, jsonrpc.CodeMethodNotFound, "Method not found: /mcp does not serve " + quoteShort(m.Method)
		}
	}
	return id, jsonrpc.CodeInvalidRequest, "Invalid Request: " + strings.TrimPrefix(sdkText, "Bad Request: ")
}

// judgeOne checks one JSON value as a JSON-RPC 2.0 message. code 0 means
// nothing found wrong; id is the message's id when it is a usable one.
func judgeOne(raw json.RawMessage) (id json.RawMessage, code int, text string) {
	id = json.RawMessage("null")
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return id, jsonrpc.CodeInvalidRequest, "Invalid Request: a JSON-RPC message is a JSON object"
	}
	if v, ok := m["id"]; ok {
		switch jsonKind(v) {
		case '"', '0':
			id = v
		case 'n':
		default:
			return id, jsonrpc.CodeInvalidRequest, `Invalid Request: "id" must be a string or a number`
		}
	}
	if string(bytes.TrimSpace(m["jsonrpc"])) != `"2.0"` {
		return id, jsonrpc.CodeInvalidRequest, `Invalid Request: "jsonrpc" must be "2.0"`
	}
	method, isCall := m["method"]
	_, isResult := m["result"]
	_, isError := m["error"]
	switch {
	case isCall && jsonKind(method) != '"':
		return id, jsonrpc.CodeInvalidRequest, `Invalid Request: "method" must be a string`
	case !isCall && !isResult && !isError:
		return id, jsonrpc.CodeInvalidRequest, `Invalid Request: a message needs a "method" (a request or a notification), or a "result" or an "error" (a response)`
	}
	if p, ok := m["params"]; ok && isCall && jsonKind(p) != '{' {
		return id, jsonrpc.CodeInvalidRequest, `Invalid Request: "params" must be an object`
	}
	return id, 0, ""
}

// jsonKind is the kind of a JSON value by its first byte: '"' a string, '0' a
// number, '{' an object, '[' an array, 'n' null, 't' or 'f' a boolean.
func jsonKind(v json.RawMessage) byte {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return 0
	}
	switch c := v[0]; {
	case c == '-' || c >= '0' && c <= '9':
		return '0'
	default:
		return c
	}
}

// quoteShort quotes s (escaping what could forge a line or a terminal
// sequence), cut to 100 bytes (shorten), the ellipsis outside the quotes.
func quoteShort(s string) string {
	short, cut := clip.String(s, 100)
	if cut {
		return fmt.Sprintf("%q…", strings.TrimSuffix(short, "…"))
	}
	return fmt.Sprintf("%q", short)
}
