package gateway

// Design note: notifications/tools/list_changed, per caller.
//
// What tools/list returns depends on the caller: the person's roles and
// attributes, the agent's cap, the token's tool scopes, the policy and the
// catalogue. So the gateway, not the SDK, decides who is told the list
// changed. It keeps, for each session (the session-based protocol
// revisions; stateless requests have no session to notify), the caller's
// claims as last seen and a hash of the tool list that caller would be
// shown. When the catalogue is rebuilt, or a session presents another
// token, the hash is computed again, and the session is notified when, and
// only when, it differs: a change of a person's roles, an agent's cap or a
// policy condition tells that person's sessions; a tool added, changed or
// removed tells only the sessions that see it (others learn nothing of the
// catalogue).
//
// The SDK server holds no tools (the gateway answers tools/list and
// tools/call itself, see intercept), so the SDK never sends its own,
// server-wide list_changed; one would be dropped all the same
// (dropToolListChanged).

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/identity/accesstoken"
)

const notificationToolListChanged = "notifications/tools/list_changed"

// sessionView is what a session's caller would be shown by tools/list.
type sessionView struct {
	claims *accesstoken.Claims
	hash   string
}

// track is receiving middleware: it notes the caller of every request on
// a session, and tells the session its list changed when the caller now
// presents a token that sees another list than the last one.
func (g *Gateway) track(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		if ss, ok := req.GetSession().(*mcp.ServerSession); ok {
			if extra := req.GetExtra(); extra != nil && extra.TokenInfo != nil {
				if cl, ok := extra.TokenInfo.Extra[callerKey].(*accesstoken.Claims); ok && ss.ID() != "" {
					g.observe(ctx, ss, cl)
				}
			}
		}
		return next(ctx, method, req)
	}
}

// observe records cl as the caller of ss.
func (g *Gateway) observe(ctx context.Context, ss *mcp.ServerSession, cl *accesstoken.Claims) {
	g.viewsMu.Lock()
	v := g.views[ss]
	if v != nil && v.claims.JTI == cl.JTI {
		g.viewsMu.Unlock()
		return
	}
	g.viewsMu.Unlock()
	// A client that registered a moment ago may not be in the catalogue
	// yet: resolve reloads it then, as tools/list would (not under
	// viewsMu: a reload takes it).
	if cat := g.catalogue(); cat != nil {
		g.resolve(ctx, cat, cl)
	}
	g.viewsMu.Lock()
	cat := g.catalogue()
	if cat == nil {
		g.viewsMu.Unlock()
		return
	}
	h := cat.listHash(cl)
	v, seen := g.views[ss]
	if !seen {
		v = &sessionView{}
		g.views[ss] = v
		go func() {
			ss.Wait()
			g.viewsMu.Lock()
			delete(g.views, ss)
			g.viewsMu.Unlock()
		}()
	}
	changed := seen && v.hash != h
	v.claims, v.hash = cl, h
	g.viewsMu.Unlock()
	if changed {
		g.sendToolListChanged([]*mcp.ServerSession{ss})
	}
}

// refreshViews computes every session's list against cat, just
// published, and notifies the sessions whose list changed. Sessions whose
// token expired are left until they present a new one.
func (g *Gateway) refreshViews(cat *catalogue) {
	now := g.now().Unix()
	memo := map[string]string{}
	var changed []*mcp.ServerSession
	g.viewsMu.Lock()
	for ss, v := range g.views {
		if v.claims.Expiry != 0 && v.claims.Expiry <= now {
			continue
		}
		key := viewKey(v.claims)
		h, ok := memo[key]
		if !ok {
			h = cat.listHash(v.claims)
			memo[key] = h
		}
		if h != v.hash {
			v.hash = h
			changed = append(changed, ss)
		}
	}
	g.viewsMu.Unlock()
	g.sendToolListChanged(changed)
}

// viewKey is what of a token decides its tool list.
func viewKey(cl *accesstoken.Claims) string {
	var chain []string
	if cl.Act != nil {
		chain = cl.Act.Chain()
	}
	return cl.Subject + "\x00" + cl.ClientID + "\x00" + cl.Scope + "\x00" + strings.Join(chain, "\x00")
}

// listHash is a hash of the tool list the holder of cl is shown, or of
// the refusal when tools/list would refuse them.
func (c *catalogue) listHash(cl *accesstoken.Claims) string {
	who, err := c.resolve(cl)
	if err != nil {
		return "refused: " + err.Error()
	}
	h := sha256.New()
	for _, e := range c.visible(who.principal, who.agent, who.scopes) {
		h.Write([]byte(e.tool.Name))
		h.Write([]byte{0})
		h.Write([]byte(e.defJSON))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// sendToolListChanged sends notifications/tools/list_changed to sessions,
// in the background: a slow client holds up no reload.
func (g *Gateway) sendToolListChanged(sessions []*mcp.ServerSession) {
	if len(sessions) == 0 || g.notify == nil {
		return
	}
	go func() {
		for _, ss := range sessions {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			req := &mcp.ServerRequest[*mcp.ToolListChangedParams]{Session: ss, Params: &mcp.ToolListChangedParams{}}
			if _, err := g.notify(ctx, notificationToolListChanged, req); err != nil {
				g.logger().Debug("gateway: notify tools/list_changed", "session", ss.ID(), "err", err)
			}
			cancel()
		}
	}()
}

// dropToolListChanged is sending middleware: it keeps the handler it
// wraps to send the gateway's own notifications with (which so bypass the
// drop), and drops any notifications/tools/list_changed the SDK would
// send to every session.
func (g *Gateway) dropToolListChanged(next mcp.MethodHandler) mcp.MethodHandler {
	g.notify = next
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		if method == notificationToolListChanged {
			return nil, nil
		}
		return next(ctx, method, req)
	}
}
