package gateway

// Design note: notifications/tools/list_changed (and prompts/, resources/),
// per caller.
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
// Prompts and resources go the same way: a caller sees an upstream's
// prompts and resources when it may call one of its tools (resources.go),
// so the view also keeps a hash of the prompt list and of the resource
// list (resources and templates) that caller would be shown. They are
// computed again when the catalogue is rebuilt, when a session presents
// another token, and when an upstream's prompts or resources change (its
// notifications/prompts/list_changed or resources/list_changed, and its
// reconnection): only sessions whose own list differs are told. An
// upstream's change so reaches the callers who may use that upstream, and
// no one else.
//
// The SDK server holds no tools, prompts or resources (the gateway answers
// their methods itself, see intercept), so the SDK never sends its own,
// server-wide list_changed; one would be dropped all the same
// (dropListChanged).

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/identity/accesstoken"
)

const (
	notificationToolListChanged     = "notifications/tools/list_changed"
	notificationPromptListChanged   = "notifications/prompts/list_changed"
	notificationResourceListChanged = "notifications/resources/list_changed"
)

// sessionView is what a session's caller would be shown by tools/list,
// prompts/list and resources/list (with resources/templates/list).
type sessionView struct {
	claims *accesstoken.Claims
	token  string // the bearer token claims came from, checked again before a notice
	hashes viewHashes
	caller string // the caller's bound (caller.bound), as when the session began
	// key is the TokenInfo.UserID the SDK bound the session to; ending
	// ends with the session, and its requests in flight with it
	// (sessions.go).
	key    string
	ending context.Context
	end    context.CancelFunc
}

// viewHashes are hashes of the lists a caller is shown.
type viewHashes struct {
	tools, prompts, resources string
}

// changedLists are the sessions to tell, by list.
type changedLists map[*mcp.ServerSession]listBits

// listBits are the lists of a session that changed.
type listBits uint8

const (
	toolsChanged listBits = 1 << iota
	promptsChanged
	resourcesChanged
)

// add notes ss among the sessions whose lists changed from old to now.
func (c *changedLists) add(ss *mcp.ServerSession, old, now viewHashes) {
	var b listBits
	if old.tools != now.tools {
		b |= toolsChanged
	}
	if old.prompts != now.prompts {
		b |= promptsChanged
	}
	if old.resources != now.resources {
		b |= resourcesChanged
	}
	if b == 0 {
		return
	}
	if *c == nil {
		*c = changedLists{}
	}
	(*c)[ss] |= b
}

// track is receiving middleware: it notes the caller of every request on
// a session, and tells the session its list changed when the caller now
// presents a token that sees another list than the last one.
func (g *Gateway) track(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		if ss, ok := req.GetSession().(*mcp.ServerSession); ok {
			if extra := req.GetExtra(); extra != nil && extra.TokenInfo != nil {
				// A session, or a listen's, which lives as long as the
				// listen (listen.go).
				if cl, ok := extra.TokenInfo.Extra[callerKey].(*accesstoken.Claims); ok && (ss.ID() != "" || method == methodSubscriptionsListen) {
					tok, _ := extra.TokenInfo.Extra[bearerKey].(string)
					bound, _ := extra.TokenInfo.Extra[boundKey].(string)
					g.observe(ctx, ss, cl, tok, extra.TokenInfo.UserID, bound)
					if method == methodSubscriptionsListen && cl.Expiry != 0 {
						// A listen hears nothing once the token that
						// opened it expires, and no later token ever
						// reaches it: it ends then, its client told to
						// listen again, and what it held released.
						var cancel context.CancelFunc
						ctx, cancel = context.WithTimeout(ctx, time.Unix(cl.Expiry, 0).Sub(g.now()))
						defer cancel()
					}
				}
			}
			if ss.ID() != "" {
				var done func()
				ctx, done = g.untilSessionEnds(ctx, ss)
				defer done()
			}
		}
		return next(withListenCaller(ctx, method, req), method, req)
	}
}

// observe records cl as the caller of ss, whose sessions count toward
// bound (caller.bound).
func (g *Gateway) observe(ctx context.Context, ss *mcp.ServerSession, cl *accesstoken.Claims, token, key, bound string) {
	g.viewsMu.Lock()
	v := g.views[ss]
	if v != nil {
		g.touchCallerSession(v.caller, ss)
	}
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
	h := g.viewHashes(cat, cl)
	v, seen := g.views[ss]
	var evict *mcp.ServerSession
	if !seen {
		v = &sessionView{caller: bound, key: key}
		v.ending, v.end = context.WithCancel(context.Background())
		g.views[ss] = v
		evict = g.addCallerSession(v.caller, ss)
		go func() {
			ss.Wait()
			v.end()
			g.viewsMu.Lock()
			delete(g.views, ss)
			g.removeCallerSession(v.caller, ss)
			g.viewsMu.Unlock()
		}()
	}
	var changed changedLists
	if seen {
		changed.add(ss, v.hashes, h)
	}
	v.claims, v.token, v.hashes = cl, token, h
	g.viewsMu.Unlock()
	if evict != nil {
		g.logger().Info("gateway: closed a caller's least recently used session: too many sessions", "sub", cl.Subject,
			"client_id", cl.ClientID, "max", maxSessionsPerCaller)
		g.closeSession(evict)
	}
	g.sendListChanged(changed)
}

// refreshViews computes every session's lists against cat, just
// published (and the upstreams' prompts and resources as they are now),
// and notifies the sessions whose lists changed. Sessions whose token
// expired are left until they present a new one. A session whose caller
// may no longer list (the person disabled or removed, the agent too) or
// whose token was revoked since it last used it (or whose status the
// store cannot tell) is told nothing: whoever holds that token learns no
// more of the person's permissions. It is told when it presents a token
// that holds, as one whose token expired is. Callers hold reloadMu, so that the
// views only ever move to the newest catalogue.
func (g *Gateway) refreshViews(cat *catalogue) {
	now := g.now().Unix()
	memo := map[string]viewHashes{}
	type change struct {
		ss       *mcp.ServerSession
		v        *sessionView
		token    string
		old, now viewHashes
	}
	var changes []change
	g.viewsMu.Lock()
	for ss, v := range g.views {
		if v.claims.Expiry != 0 && v.claims.Expiry <= now {
			continue
		}
		key := cat.viewKey(v.claims)
		h, ok := memo[key]
		if !ok {
			h = g.viewHashes(cat, v.claims)
			memo[key] = h
		}
		if h != v.hashes && !strings.HasPrefix(h.tools, refusedView) {
			changes = append(changes, change{ss, v, v.token, v.hashes, h})
		}
		v.hashes = h
	}
	g.viewsMu.Unlock()
	var changed changedLists
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, c := range changes {
		// Revoked since, or its signing key withdrawn (or the store
		// cannot tell): told nothing, and left, as an expired one, to be
		// told when it presents a token that holds (observe).
		if !g.stillHolds(ctx, c.token) {
			g.viewsMu.Lock()
			if c.v.token == c.token && c.v.hashes == c.now {
				c.v.hashes = c.old
			}
			g.viewsMu.Unlock()
			continue
		}
		changed.add(c.ss, c.old, c.now)
	}
	g.sendListChanged(changed)
}

// refusedView begins the hashes of the lists of a caller who may not list.
const refusedView = "refused: "

// featuresChanged tells the sessions whose prompt or resource list
// changed with an upstream's prompts or resources, just listed anew.
func (g *Gateway) featuresChanged() {
	g.reloadMu.Lock()
	defer g.reloadMu.Unlock()
	if cat := g.catalogue(); cat != nil {
		g.refreshViews(cat)
	}
}

// viewHashes hashes the lists the holder of cl is shown: tools from cat,
// prompts and resources from the upstreams whose tools cat lets them call.
// When the lists would be refused, each is a hash of the refusal.
func (g *Gateway) viewHashes(cat *catalogue, cl *accesstoken.Claims) viewHashes {
	who, err := cat.resolve(cl)
	if err != nil {
		r := refusedView + err.Error()
		return viewHashes{tools: r, prompts: r, resources: r}
	}
	visible := cat.visible(who.principal, who.agent, who.scopes)
	ups := g.upstreamsOf(visible)
	return viewHashes{
		tools:     toolsHash(visible),
		prompts:   jsonHash(promptsOf(cat, ups)),
		resources: jsonHash(resourcesOf(ups), templatesOf(cat, ups)),
	}
}

// jsonHash is a hash of the JSON of vs (what an upstream sent, decoded
// from JSON: an error encoding it again hashes as its message).
func jsonHash(vs ...any) string {
	h := sha256.New()
	enc := json.NewEncoder(h)
	for _, v := range vs {
		if err := enc.Encode(v); err != nil {
			return "unencodable: " + err.Error()
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// viewKey is what of a token decides its lists in c. Besides who and
// through whom, that is whether it stands (resolve): one issued before its
// person or one of its clients was created was an earlier one's of the
// same name, and is refused where a later token of the same names is not.
// The key so says, for the person and each client, whether the token was
// issued before it was created, not when: the sessions of one person
// through one agent still share a key, whenever their tokens were issued.
func (c *catalogue) viewKey(cl *accesstoken.Claims) string {
	var chain []string
	if cl.Act != nil {
		chain = cl.Act.Chain()
	}
	// A token with no grant may be a client's own (resolve's machine).
	standing := []byte{'g'}
	if cl.GrantID == "" {
		standing[0] = 'n'
	}
	mark := func(created time.Time, ok bool) {
		switch {
		case !ok:
			standing = append(standing, '-')
		case issuedBefore(cl.IssuedAt, created):
			standing = append(standing, '0')
		default:
			standing = append(standing, '1')
		}
	}
	u, ok := c.users[cl.Subject]
	mark(u.CreatedAt, ok)
	for _, id := range append([]string{cl.ClientID}, chain...) {
		client, ok := c.clients[id]
		mark(client.CreatedAt, ok)
	}
	return cl.Subject + "\x00" + cl.ClientID + "\x00" + cl.Scope + "\x00" + strings.Join(chain, "\x00") + "\x00" + string(standing)
}

// toolsHash is a hash of the tool list visible.
func toolsHash(visible []*entry) string {
	h := sha256.New()
	for _, e := range visible {
		h.Write([]byte(e.tool.Name))
		h.Write([]byte{0})
		h.Write([]byte(e.defJSON))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// sendListChanged sends notifications/tools/list_changed,
// prompts/list_changed and resources/list_changed to the sessions whose
// list changed, in the background: a slow client holds up no reload, nor
// another session's notices. Each session has at most one sender, which
// takes what changed while it was sending as one more round: however
// often the catalogue is rebuilt, a session is sent at most one notice
// per list at a time, and the goroutines are at most the sessions.
func (g *Gateway) sendListChanged(c changedLists) {
	if len(c) == 0 || g.notify == nil {
		return
	}
	g.noticesMu.Lock()
	defer g.noticesMu.Unlock()
	if g.notices == nil {
		g.notices = map[*mcp.ServerSession]listBits{}
	}
	for ss, b := range c {
		pending, sending := g.notices[ss]
		g.notices[ss] = pending | b
		if !sending {
			go g.deliverListChanged(ss)
		}
	}
}

// deliverListChanged is ss's sender: it sends what is pending for ss until
// nothing is.
func (g *Gateway) deliverListChanged(ss *mcp.ServerSession) {
	for {
		g.noticesMu.Lock()
		b := g.notices[ss]
		if b == 0 {
			delete(g.notices, ss)
			g.noticesMu.Unlock()
			return
		}
		g.notices[ss] = 0
		g.noticesMu.Unlock()
		// A listen's session (listen.go) takes the notices it opted in
		// to, stamped with its ID; a session, all.
		var meta mcp.Meta
		if l, ok := g.listenOf(ss); ok {
			if !l.tools {
				b &^= toolsChanged
			}
			if !l.prompts {
				b &^= promptsChanged
			}
			if !l.resources {
				b &^= resourcesChanged
			}
			meta = mcp.Meta{mcp.MetaKeySubscriptionID: l.id}
		} else if ss.ID() == "" {
			continue // a listen not acknowledged yet, or over
		}
		send := func(method string, req mcp.Request) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, err := g.notify(ctx, method, req); err != nil {
				g.logger().Debug("gateway: notify list_changed", "method", method, "session", ss.ID(), "err", err)
			}
		}
		if b&toolsChanged != 0 {
			send(notificationToolListChanged, &mcp.ServerRequest[*mcp.ToolListChangedParams]{Session: ss, Params: &mcp.ToolListChangedParams{Meta: meta}})
		}
		if b&promptsChanged != 0 {
			send(notificationPromptListChanged, &mcp.ServerRequest[*mcp.PromptListChangedParams]{Session: ss, Params: &mcp.PromptListChangedParams{Meta: meta}})
		}
		if b&resourcesChanged != 0 {
			send(notificationResourceListChanged, &mcp.ServerRequest[*mcp.ResourceListChangedParams]{Session: ss, Params: &mcp.ResourceListChangedParams{Meta: meta}})
		}
	}
}

// dropListChanged is sending middleware: it keeps the handler it wraps to
// send the gateway's own notifications with (which so bypass the drop),
// and drops any tools/, prompts/ or resources/list_changed the SDK would
// send to every session.
func (g *Gateway) dropListChanged(next mcp.MethodHandler) mcp.MethodHandler {
	g.notify = next
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		switch method {
		case notificationToolListChanged, notificationPromptListChanged, notificationResourceListChanged:
			return nil, nil
		}
		return next(ctx, method, req)
	}
}
