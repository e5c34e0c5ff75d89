package gateway

import (
	"context"
	"slices"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// maxSessionsPerCaller bounds the MCP sessions one caller (a person, or a
// client on its own, through one client, each as created: caller.bound)
// keeps open at /mcp. A client that starts a session for every task and
// never ends one (DELETE) would otherwise hold the gateway's memory for
// the session timeout, and a caller with a valid token could open
// sessions without end. Beyond the
// bound the caller's least recently used session is closed: a client
// still using it is told the session is gone (404) and starts another, as
// MCP provides.
const maxSessionsPerCaller = 32

// addCallerSession notes ss as caller's most recently used session and
// returns the least recently used one to close when that makes one too
// many. Callers hold viewsMu.
func (g *Gateway) addCallerSession(caller string, ss *mcp.ServerSession) (evict *mcp.ServerSession) {
	if g.byCaller == nil {
		g.byCaller = map[string][]*mcp.ServerSession{}
	}
	list := append(g.byCaller[caller], ss)
	if len(list) > maxSessionsPerCaller {
		evict = list[0]
		list = slices.Delete(list, 0, 1)
	}
	g.byCaller[caller] = list
	return evict
}

// touchCallerSession moves ss to the end of caller's sessions: the most
// recently used. Callers hold viewsMu.
func (g *Gateway) touchCallerSession(caller string, ss *mcp.ServerSession) {
	list := g.byCaller[caller]
	if i := slices.Index(list, ss); i >= 0 && i < len(list)-1 {
		copy(list[i:], list[i+1:])
		list[len(list)-1] = ss
	}
}

// removeCallerSession forgets a session that ended. Callers hold viewsMu.
func (g *Gateway) removeCallerSession(caller string, ss *mcp.ServerSession) {
	list := slices.DeleteFunc(g.byCaller[caller], func(s *mcp.ServerSession) bool { return s == ss })
	if len(list) == 0 {
		delete(g.byCaller, caller)
		return
	}
	g.byCaller[caller] = list
}

// untilSessionEnds returns ctx, ending also when the session ss does
// (closeSession, endSession, Close). The SDK's Close of a session waits
// for the requests in flight on it and cancels none of them: a call would
// run on for a client that is gone, up to its upstream's call timeout,
// holding the caller's call slot, the DELETE that ended the session, or
// the request whose new session closed it (addCallerSession).
func (g *Gateway) untilSessionEnds(ctx context.Context, ss *mcp.ServerSession) (context.Context, func()) {
	g.viewsMu.Lock()
	v := g.views[ss]
	g.viewsMu.Unlock()
	if v == nil {
		return ctx, func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(v.ending, cancel)
	return ctx, func() { stop(); cancel() }
}

// closeSession ends ss's requests in flight and closes it, without
// waiting for it to close.
func (g *Gateway) closeSession(ss *mcp.ServerSession) {
	g.viewsMu.Lock()
	if v := g.views[ss]; v != nil {
		v.end()
	}
	g.viewsMu.Unlock()
	go ss.Close()
}

// endSession ends the requests in flight of session id when key, a
// DELETE's TokenInfo.UserID, is the one the session is bound to, so that
// the SDK's DELETE, which checks the same, closes it at once. Another
// caller's DELETE ends nothing (the SDK refuses it).
func (g *Gateway) endSession(id, key string) {
	g.viewsMu.Lock()
	defer g.viewsMu.Unlock()
	for ss, v := range g.views {
		if ss.ID() == id && v.key == key {
			v.end()
		}
	}
}
