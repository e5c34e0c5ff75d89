package gateway

// Design note: subscriptions/listen, the stateless revision's subscriptions.
//
// From protocol revision 2026-07-28 a client has no session to be told
// things on. It sends a subscriptions/listen request, which stays open,
// names what it wants to hear (tool, prompt and resource list changes,
// updates of resources) and hears them on that request's stream, each
// notice carrying the listen's request ID in its _meta. The SDK answers
// the request; the gateway makes it keep the rules of the revisions with
// sessions:
//
//   - A listen's resource subscriptions are the gateway's subscribe,
//     decided and audited for the listen's caller. The SDK calls the
//     subscribe handler with a request of its own making, which carries no
//     caller: track puts the listen's in the context, where subscribe
//     finds it.
//   - The listen's session, which lives as long as the listen, is tracked
//     like a session (its caller's views, listchanged.go), so that
//     resources/updated reaches it only while its caller may use the
//     upstream that sent it (mayHearOf).
//   - Its list changes are its caller's own, as on a session. The SDK's
//     acknowledgement of the listen, sent through the gateway's sending
//     middleware, tells which notices the listen takes and under which
//     ID; sendListChanged sends it those only, stamped with that ID.

import (
	"context"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

const (
	methodSubscriptionsListen    = "subscriptions/listen"
	notificationSubscriptionsAck = "notifications/subscriptions/acknowledged"
)

// listenCallerKey keys the RequestExtra of a subscriptions/listen request
// in its context (track), for the subscribe requests the SDK makes of it.
type listenCallerKey struct{}

// withListenCaller returns ctx carrying req's caller when req is a
// subscriptions/listen request.
func withListenCaller(ctx context.Context, method string, req mcp.Request) context.Context {
	if method != methodSubscriptionsListen {
		return ctx
	}
	if x := req.GetExtra(); x != nil && x.TokenInfo != nil {
		return context.WithValue(ctx, listenCallerKey{}, x)
	}
	return ctx
}

// listenCaller gives req, a subscribe request the SDK made for a listen,
// the listen's caller from ctx.
func listenCaller(ctx context.Context, req *mcp.SubscribeRequest) {
	if req.Extra == nil || req.Extra.TokenInfo == nil {
		if x, ok := ctx.Value(listenCallerKey{}).(*mcp.RequestExtra); ok {
			req.Extra = x
		}
	}
}

// listenSub is what a listen's session takes: the list changes it opted
// in to, and the listen's request ID to stamp them with.
type listenSub struct {
	id                        any
	tools, prompts, resources bool
}

// noteListen is sending middleware: from the SDK's acknowledgement of a
// listen it notes what the listen's session takes, until the session ends.
func (g *Gateway) noteListen(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		if method == notificationSubscriptionsAck {
			p, _ := req.GetParams().(*mcp.SubscriptionsAcknowledgedParams)
			ss, _ := req.GetSession().(*mcp.ServerSession)
			if p != nil && ss != nil {
				n := p.Notifications
				g.listenSubsMu.Lock()
				if g.listenSubs == nil {
					g.listenSubs = map[*mcp.ServerSession]listenSub{}
				}
				_, seen := g.listenSubs[ss]
				g.listenSubs[ss] = listenSub{id: p.Meta[mcp.MetaKeySubscriptionID],
					tools: n.ToolsListChanged, prompts: n.PromptsListChanged, resources: n.ResourcesListChanged}
				g.listenSubsMu.Unlock()
				if !seen {
					go func() {
						ss.Wait()
						g.listenSubsMu.Lock()
						delete(g.listenSubs, ss)
						g.listenSubsMu.Unlock()
					}()
				}
			}
		}
		return next(ctx, method, req)
	}
}

// listenOf reports what ss takes, when it is a listen's session.
func (g *Gateway) listenOf(ss *mcp.ServerSession) (listenSub, bool) {
	g.listenSubsMu.Lock()
	defer g.listenSubsMu.Unlock()
	l, ok := g.listenSubs[ss]
	return l, ok
}
