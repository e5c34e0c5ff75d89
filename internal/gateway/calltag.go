package gateway

// Design note: call tags, so that what a Streamable HTTP upstream sends on
// a call's own stream is relayed to that call's caller, for certain.
//
// MCP ties a server's log message, sampling or elicitation request to no
// call, but on Streamable HTTP a server that sends one while serving a call
// sends it on the event stream of that call's POST. The SDK's client hands
// it to its handler without saying which stream it came on; the gateway's
// HTTP transport does know (it reads those streams, barrier.go). So each
// call goes out with a tag in its context, a random value the upstream
// never sees, and the transport writes it into the _meta of every
// notification and request read from that call's stream. takeTags takes
// it out of every message first, so nothing relayed carries it, and the
// handlers look it up: a tagged message goes to its call's caller even when
// the same caller runs two calls at once, or several callers share the
// session. An untagged message (the upstream's standalone stream, a stdio
// upstream) is attributed as before, only when one caller's call can have
// sent it (upConn.sole), and no request of the gateway's own is running
// there (upConn.ownRequests).
//
// An upstream cannot forge a tag: it never sees one, and an unknown or
// misplaced tag is taken out and ignored.

import (
	"context"
	"encoding/json"
	"reflect"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// metaCallTag is the _meta key of a call's tag.
const metaCallTag = "gatehouse/call"

type callTagKey struct{}

// ownRequestTag tags what comes on the stream of a request the gateway
// sends on its own account, for no caller: no call has it (a call's tag
// is an ID of slip.NewID's, which has no space), so what comes with it is
// relayed to no one, as what comes on the stream of a call that is over.
// The upstream's standalone stream (a GET) stays untagged: what comes on
// it may be any call's (upConn.sole).
const ownRequestTag = "gateway's own"

// withCallTag returns ctx carrying tag, for the call's HTTP requests.
func withCallTag(ctx context.Context, tag string) context.Context {
	return context.WithValue(ctx, callTagKey{}, tag)
}

// callTag returns the tag ctx carries, and whether it carries one (an
// empty tag included).
func callTag(ctx context.Context) (string, bool) {
	tag, ok := ctx.Value(callTagKey{}).(string)
	return tag, ok
}

// tagMessage returns the JSON-RPC notification or request data with
// params._meta carrying tag, or data unchanged when it is not a JSON
// object with a method, an object (or no) params and an object (or no)
// _meta: the SDK judges such a message, and an untagged one is attributed
// the usual way.
func tagMessage(data []byte, tag string) []byte {
	var msg map[string]json.RawMessage
	if json.Unmarshal(data, &msg) != nil || msg == nil {
		return data
	}
	if _, ok := msg["method"]; !ok { // a response: nothing to attribute
		return data
	}
	params := map[string]json.RawMessage{}
	if raw, ok := msg["params"]; ok && json.Unmarshal(raw, &params) != nil || params == nil {
		return data
	}
	meta := map[string]json.RawMessage{}
	if raw, ok := params["_meta"]; ok && json.Unmarshal(raw, &meta) != nil || meta == nil {
		return data
	}
	meta[metaCallTag], _ = json.Marshal(tag)
	var err error
	if params["_meta"], err = json.Marshal(meta); err != nil {
		return data
	}
	if msg["params"], err = json.Marshal(params); err != nil {
		return data
	}
	out, err := json.Marshal(msg)
	if err != nil {
		return data
	}
	return out
}

// takeTags is the upstream client's outermost receiving middleware: it
// takes the call tag out of every message's _meta, whatever the message
// (nothing relayed may carry it), and passes it on in the context, where
// forMessage finds it.
func takeTags(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		if p := req.GetParams(); p != nil {
			if pv := reflect.ValueOf(p); pv.Kind() != reflect.Pointer || !pv.IsNil() {
				if m := p.GetMeta(); m != nil {
					if raw, ok := m[metaCallTag]; ok {
						delete(m, metaCallTag)
						tag, _ := raw.(string)
						ctx = withCallTag(ctx, tag)
					}
				}
			}
		}
		return next(ctx, method, req)
	}
}

// tagged returns the call on c whose tag came with the message being
// handled in ctx (takeTags), and whether a tag came at all.
func (c *upConn) tagged(ctx context.Context) (*inflightCall, bool) {
	tag, ok := callTag(ctx)
	if !ok {
		return nil, false
	}
	if f, ok := c.tags.Load(tag); ok && tag != "" {
		return f.(*inflightCall), true
	}
	return nil, true
}

// forMessage returns the call a log message being handled in ctx belongs
// to: the one it is tagged with, unless its caller gave up; untagged, the
// one sole finds. A message with a tag of no call running here (one that
// is over, or a made-up one) belongs to none: it came on some call's
// stream, so sole's candidate would be a guess.
func (c *upConn) forMessage(ctx context.Context) *inflightCall { return c.attribute(ctx, false) }

// forRequest is forMessage for a sampling or elicitation request, which
// only a call still waiting for its result can have sent.
func (c *upConn) forRequest(ctx context.Context) *inflightCall { return c.attribute(ctx, true) }

func (c *upConn) attribute(ctx context.Context, request bool) *inflightCall {
	f, tagged := c.tagged(ctx)
	if !tagged {
		f = c.sole() // never one whose caller gave up
	}
	if f == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if f.abandoned || request && f.answered {
		return nil
	}
	return f
}
