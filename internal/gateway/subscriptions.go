package gateway

import (
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The gateway's subscriptions on its upstreams, for its sessions.
//
// The SDK keeps which sessions subscribed to a URI; the upstream knows
// only the gateway's session, subscribed once for all of them. So the
// gateway keeps, by upstream and URI, the sessions subscribed through it:
// the upstream's subscription ends when the last of them unsubscribes or
// ends (DELETE, its timeout), and a new session with the upstream (a
// restarted process, a reconnection), which starts with none, is
// subscribed to every URI a session still is.

// maxSubscriptions bounds the URIs one session (or listen) is subscribed
// to at once. A URI a template produces is the caller's to choose, and
// each one subscribed to costs the gateway, the SDK and the upstream
// memory for as long as the session lasts: without a bound one session
// could hold an upstream subscribed to millions. A client watching more
// resources than this is rare; it unsubscribes from one first.
var maxSubscriptions = 1000

// PolicySubscriptions is the policy of a subscription refused because the
// session holds maxSubscriptions already.
const PolicySubscriptions = "subscriptions-full"

// errSubscriptionsFull answers a subscription past maxSubscriptions.
var errSubscriptionsFull = errors.New("this session is subscribed to as many resources as it may be; unsubscribe from one first")

// reserveSub takes one of ss's maxSubscriptions for key, until the
// subscription is noted or given up (subscribeUpstream), and reports
// false when none is left: ss holds, or is about to hold, as many other
// URIs. Counting those being forwarded too, the refusal is decided before
// the upstream is asked, and recorded as one. Subscribing to a URI ss
// holds again takes none: it costs nothing.
func (g *Gateway) reserveSub(ss *mcp.ServerSession, key subKey) (reserved, ok bool) {
	g.subsMu.Lock()
	defer g.subsMu.Unlock()
	if slices.Contains(g.subsOf[ss], key) {
		return false, true
	}
	if len(g.subsOf[ss])+g.subsTaking[ss] >= maxSubscriptions {
		return false, false
	}
	if g.subsTaking == nil {
		g.subsTaking = map[*mcp.ServerSession]int{}
	}
	g.subsTaking[ss]++
	return true, true
}

// unreserveLocked gives back ss's reservation. Callers hold subsMu.
func (g *Gateway) unreserveLocked(ss *mcp.ServerSession) {
	if g.subsTaking[ss]--; g.subsTaking[ss] <= 0 {
		delete(g.subsTaking, ss)
	}
}

// fullLocked reports whether ss holds maxSubscriptions URIs other than
// key. Callers hold subsMu.
func (g *Gateway) fullLocked(ss *mcp.ServerSession, key subKey) bool {
	held := g.subsOf[ss]
	return len(held) >= maxSubscriptions && !slices.Contains(held, key)
}

// subKey is a URI subscribed to on an upstream.
type subKey struct{ upstream, uri string }

// upSub are the sessions subscribed to a subKey.
type upSub struct {
	// op is held while the upstream is asked to subscribe or unsubscribe:
	// the last unsubscription and a new subscription reach it in the
	// order they decided in.
	op sync.Mutex
	// Guarded by Gateway.subsMu: the sessions subscribed, and how many
	// of them or of the requests about to be hold the entry.
	sessions map[*mcp.ServerSession]bool
	users    int
}

// holdSub returns key's entry, held until letSub.
func (g *Gateway) holdSub(key subKey) *upSub {
	g.subsMu.Lock()
	defer g.subsMu.Unlock()
	if g.subs == nil {
		g.subs = map[subKey]*upSub{}
		g.subsOf = map[*mcp.ServerSession][]subKey{}
	}
	e := g.subs[key]
	if e == nil {
		e = &upSub{sessions: map[*mcp.ServerSession]bool{}}
		g.subs[key] = e
	}
	e.users++
	return e
}

// letSub lets go of key's entry, which goes with its last user. Callers
// hold subsMu.
func (g *Gateway) letSub(key subKey, e *upSub) {
	if e.users--; e.users == 0 {
		delete(g.subs, key)
	}
}

// subscribeUpstream runs forward, which subscribes the upstream of key
// to its URI, for ss, and notes ss among key's sessions when it did; when
// ss may hold no more URIs (reserveSub) it runs full instead, which
// refuses the subscription.
func (g *Gateway) subscribeUpstream(ctx context.Context, ss *mcp.ServerSession, key subKey, full, forward func() error) error {
	reserved, ok := g.reserveSub(ss, key)
	if !ok {
		return full()
	}
	e := g.holdSub(key)
	// Held until ss is noted below: a last unsubscription waiting for its
	// turn (endSub) would otherwise find no session subscribed between the
	// two, and unsubscribe the upstream just after it subscribed for ss.
	e.op.Lock()
	defer e.op.Unlock()
	err := forward()
	g.subsMu.Lock()
	defer g.subsMu.Unlock()
	if reserved {
		g.unreserveLocked(ss)
	}
	switch {
	case errors.Is(err, errFeatureResultNotRecorded) && !e.sessions[ss]:
		// The upstream subscribed, but the trail refused the result and
		// the caller is refused: the upstream was subscribed for no one
		// unless another session is (endSub looks).
		go g.endSub(key, e)
	case err != nil || e.sessions[ss]:
		g.letSub(key, e)
	case g.fullLocked(ss, key):
		// A URI the session held when reserveSub looked, and so took no
		// reservation for, was unsubscribed from meanwhile and others
		// taken: the upstream was subscribed for no one, as below.
		go g.endSub(key, e)
		err = errSubscriptionsFull
	case ss == nil || ctx.Err() != nil:
		// A session that ended meanwhile (its requests end with it), or
		// a request cancelled, is not kept, by the SDK either: nothing
		// would take it out again. The upstream was subscribed all the
		// same, maybe for no one.
		go g.endSub(key, e)
		err = context.Cause(ctx)
		if err == nil {
			err = errNotFound
		}
	default:
		e.sessions[ss] = true // keeps the hold
		if _, watched := g.subsOf[ss]; !watched {
			go func() {
				ss.Wait()
				g.dropSubs(ss, "")
			}()
		}
		g.subsOf[ss] = append(g.subsOf[ss], key)
	}
	return err
}

// dropSubs takes ss out of the sessions subscribed to uri ("": to any),
// and ends the upstream's subscriptions it was the last one of.
func (g *Gateway) dropSubs(ss *mcp.ServerSession, uri string) {
	g.subsMu.Lock()
	var drop, keep []subKey
	for _, k := range g.subsOf[ss] {
		if uri == "" || k.uri == uri {
			drop = append(drop, k)
		} else {
			keep = append(keep, k)
		}
	}
	if _, watched := g.subsOf[ss]; uri == "" {
		delete(g.subsOf, ss) // it ended
	} else if watched {
		g.subsOf[ss] = keep // still watched (subscribeUpstream), even with none left
	}
	// A session not watched (one that never subscribed, or that ended)
	// is not noted: subscribeUpstream would take it for watched, and
	// nothing would ever take it out.
	for _, k := range drop {
		if e := g.subs[k]; e != nil && e.sessions[ss] {
			delete(e.sessions, ss)
			// The hold ss had is handed to the unsubscription.
			go g.endSub(k, e)
		}
	}
	g.subsMu.Unlock()
}

// inTurn runs fn with key's upstream operation held (upSub.op), telling
// it whether a session is still subscribed to key, then lets go of one
// hold of e.
func (g *Gateway) inTurn(key subKey, e *upSub, fn func(subscribed bool)) {
	e.op.Lock()
	g.subsMu.Lock()
	subscribed := len(e.sessions) > 0
	g.subsMu.Unlock()
	fn(subscribed)
	e.op.Unlock()
	g.subsMu.Lock()
	g.letSub(key, e)
	g.subsMu.Unlock()
}

// endSub ends the upstream's subscription to key when no session is
// subscribed to it any more, and lets go of one hold of e.
func (g *Gateway) endSub(key subKey, e *upSub) {
	g.inTurn(key, e, func(subscribed bool) {
		c := g.ups.conn(key.upstream)
		if subscribed || c == nil {
			return
		}
		if cs, _ := c.snapshot(); cs != nil {
			ctx, cancel := context.WithTimeout(context.Background(), c.callLimit())
			defer cancel()
			if err := cs.Unsubscribe(ctx, &mcp.UnsubscribeParams{URI: key.uri}); err != nil {
				g.logger().Debug("gateway: unsubscribe upstream", "upstream", key.upstream, "err", c.logErr(err))
			}
		}
	})
}

// heldSubs returns, held (upSub.users), the URIs sessions are subscribed
// to on upstream now: taken just before a new session with the upstream
// is put in place, they are what that session must be subscribed to
// again (resubscribe); a subscription made after goes through the new
// session itself, and is not sent twice. Each is let go by resubscribe,
// or by release (once) when the session never comes to it.
func (g *Gateway) heldSubs(upstream string) (keys []subKey, entries []*upSub, release func()) {
	g.subsMu.Lock()
	for k, e := range g.subs {
		if k.upstream == upstream && len(e.sessions) > 0 {
			e.users++
			keys, entries = append(keys, k), append(entries, e)
		}
	}
	g.subsMu.Unlock()
	return keys, entries, func() {
		g.subsMu.Lock()
		for i, k := range keys {
			g.letSub(k, entries[i])
		}
		g.subsMu.Unlock()
	}
}

// resubscribe subscribes cs, a new session with upstream, to the URIs of
// heldSubs still subscribed to, and lets go of their holds.
func (g *Gateway) resubscribe(ctx context.Context, c *upConn, cs *mcp.ClientSession, keys []subKey, entries []*upSub) {
	for i, k := range keys {
		g.inTurn(k, entries[i], func(subscribed bool) {
			if !subscribed || ctx.Err() != nil {
				return
			}
			sctx, cancel := context.WithTimeout(ctx, c.callLimit())
			defer cancel()
			if err := cs.Subscribe(sctx, &mcp.SubscribeParams{URI: k.uri}); err != nil {
				g.logger().Warn("gateway: subscribe a reconnected upstream again", "upstream", k.upstream, "err", c.logErr(err))
			}
		})
	}
}
