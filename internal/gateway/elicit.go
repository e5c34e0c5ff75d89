package gateway

// Design note: relaying elicitation faithfully.
//
// The SDK checks an elicitation's requested schema on both of the gateway's
// sides: the client toward the upstream refuses, before any handler runs,
// a schema its own rules do not know (a titled multi-select, items with
// anyOf, is one the MCP specification allows), and the server toward the
// caller checks the caller's answer against the schema again. The gateway
// is a relay: the upstream asked, the caller answers, and each of them
// validates what it receives. So an elicitation/create from an upstream is
// taken before the SDK client's checks (a receiving middleware), and sent
// to the caller through ServerSession.Elicit without the schema, which a
// sending middleware puts back on the wire (so the SDK server does not
// check the answer against it either).

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/store"
)

const methodElicit = "elicitation/create"

// relayElicitations is the upstream client's receiving middleware: it
// relays elicitation/create to the caller of the call that sent it
// (forRequest).
func (c *upConn) relayElicitations(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		if method != methodElicit {
			return next(ctx, method, req)
		}
		r, ok := req.(*mcp.ElicitRequest)
		if !ok || r.Params == nil {
			return next(ctx, method, req)
		}
		f, done, err := c.askFor(ctx, r.Params)
		if err != nil {
			return nil, err
		}
		defer done()
		return f.elicit(ctx, r.Params)
	}
}

// elicit asks f's caller what p asks: through f.ask (a caller answering
// on retries), else on the caller's session. ctx is the upstream's
// request.
func (f *inflightCall) elicit(ctx context.Context, p *mcp.ElicitParams) (*mcp.ElicitResult, error) {
	// Whatever the mode says (in whatever case): a client may go by the
	// url field, and open what it holds.
	if p.URL != "" || strings.EqualFold(p.Mode, "url") {
		if err := checkElicitURL(p.URL); err != nil {
			return nil, err
		}
	}
	if f.ask == nil {
		ctx, end := f.askContext(ctx)
		defer end()
		res, err := elicit(ctx, f.session, p)
		if err == nil {
			noteGiven(f.ctx, res)
		}
		return res, err
	}
	res, err := f.ask(ctx, p)
	if err != nil {
		return nil, err
	}
	return res.(*mcp.ElicitResult), nil // what flight.match passes for an ElicitParams
}

// checkElicitURL refuses the URL of a "url" elicitation that the person
// should not be sent to: the caller shows it and opens it, so an upstream
// could send them to a phishing page over plain http, run a javascript:
// or data: URL, or open a local file. Only https is taken, and http on a
// loopback host (a callback of the person's own machine), with a host
// and without userinfo (https://bank.example@attacker.example/).
func checkElicitURL(raw string) error {
	u, err := url.Parse(raw)
	ok := err == nil && u.Host != "" && u.User == nil && u.Opaque == "" &&
		(u.Scheme == "https" || u.Scheme == "http" && store.IsLoopbackHost(u.Hostname()))
	if !ok {
		return &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams,
			Message: "gatehouse relays a URL elicitation only to an https URL, or http on a loopback host"}
	}
	return nil
}

// errURLElicitationRefused answers, in place of an upstream's
// URL-elicitation-required error, one that lists a URL checkElicitURL
// refuses.
var errURLElicitationRefused = &jsonrpc.Error{Code: jsonrpc.CodeInternalError,
	Message: "the upstream asked to send the person to a URL that gatehouse does not relay: only an https URL, or http on a loopback host"}

// relayedError is rpc, an upstream's own JSON-RPC error, as its caller
// may be told it. A URL-elicitation-required error lists, in its data,
// URLs the caller's client shows the person to open, as a "url"
// elicitation request does: the URLs are held to checkElicitURL alike,
// and an error listing one it refuses (or data that cannot be read for
// them) is not passed on.
func relayedError(rpc *jsonrpc.Error) *jsonrpc.Error {
	if rpc.Code != mcp.CodeURLElicitationRequired || len(rpc.Data) == 0 {
		return rpc
	}
	var data struct {
		Elicitations []struct {
			URL string `json:"url"`
		} `json:"elicitations"`
	}
	if json.Unmarshal(rpc.Data, &data) != nil {
		return errURLElicitationRefused
	}
	for _, e := range data.Elicitations {
		if checkElicitURL(e.URL) != nil {
			return errURLElicitationRefused
		}
	}
	return rpc
}

// elicitSchemaKey carries, in the context of ServerSession.Elicit, the
// params to send in place of the schema-less ones Elicit was given.
type elicitSchemaKey struct{}

// elicit asks the caller on ss what p asks, passing the requested schema
// through unchecked, and returns the caller's answer as it came.
func elicit(ctx context.Context, ss *mcp.ServerSession, p *mcp.ElicitParams) (*mcp.ElicitResult, error) {
	if p.RequestedSchema == nil {
		return ss.Elicit(ctx, p)
	}
	bare := *p
	bare.RequestedSchema = nil
	return ss.Elicit(context.WithValue(ctx, elicitSchemaKey{}, p), &bare)
}

// restoreElicitSchema is the gateway server's sending middleware: it puts
// back the schema elicit took out of an elicitation/create.
func restoreElicitSchema(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		full, _ := ctx.Value(elicitSchemaKey{}).(*mcp.ElicitParams)
		if method != methodElicit || full == nil {
			return next(ctx, method, req)
		}
		// ServerSession.Elicit sends a *ServerRequest[mcp.Params].
		var (
			ss   *mcp.ServerSession
			sent *mcp.ElicitParams
		)
		switch r := req.(type) {
		case *mcp.ServerRequest[mcp.Params]:
			ss = r.Session
			sent, _ = r.Params.(*mcp.ElicitParams)
		case *mcp.ServerRequest[*mcp.ElicitParams]:
			ss, sent = r.Session, r.Params
		}
		if ss == nil || sent == nil || sent.RequestedSchema != nil {
			return next(ctx, method, req)
		}
		p := *full
		if p.Mode == "" {
			p.Mode = sent.Mode // as the SDK inferred it
		}
		return next(ctx, method, &mcp.ServerRequest[mcp.Params]{Session: ss, Params: &p})
	}
}

// askContext returns the context a request of the upstream's (its ctx)
// is put to f's caller on the session in: f's, which carries the call's
// values and ends with the call, ending also when the upstream gives up
// its request (notifications/cancelled, its session ending). Without
// that the person's form stayed open, for nothing, until the call ended.
func (f *inflightCall) askContext(ctx context.Context) (context.Context, func()) {
	actx, cancel := context.WithCancel(f.ctx)
	stop := context.AfterFunc(ctx, cancel)
	return actx, func() { stop(); cancel() }
}
