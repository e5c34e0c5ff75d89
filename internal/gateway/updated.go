package gateway

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The bounds of the resources/updated notices one upstream connection has
// pending: distinct URIs, and their bytes. A notice of a URI already
// pending costs nothing more; one past either bound is dropped.
var (
	maxPendingUpdates     = 10_000
	maxPendingUpdateBytes = 4 << 20
)

// pendingUpdates are the resources/updated notices an upstream connection
// sent that are not passed on yet, coalesced: a set of URIs, each passed on
// once however many notices named it meanwhile. The SDK's client reads
// whatever the upstream sends as it arrives and queues its notifications
// without bound, for their handler to take one at a time; passing a notice
// on costs a check of every subscriber's token in the store. So the
// handler (note) only records the URI and returns, and one goroutine at a
// time (deliver, started when there is something to pass on) passes the
// pending URIs on: an upstream that announces changes faster than they
// can be passed on costs at most the bounds above, twice (the URIs being
// passed on and those noted since), never a queue of every notice it sent.
// A notice that comes while its URI is being passed on is pending again:
// its subscribers hear of it after the change it announces.
type pendingUpdates struct {
	g    *Gateway
	from string // the upstream's name
	log  *slog.Logger
	// ctx ends with the connection (stop): what is still pending then is
	// dropped, as its subscriptions, held by that session, are gone too.
	ctx  context.Context
	stop context.CancelFunc

	mu      sync.Mutex
	uris    []string // in the order first noted
	pending map[string]bool
	bytes   int
	running bool      // a deliver goroutine is at work
	warned  time.Time // the last warning of a notice dropped
}

func newPendingUpdates(ctx context.Context, g *Gateway, from string, log *slog.Logger) *pendingUpdates {
	p := &pendingUpdates{g: g, from: from, log: log, pending: map[string]bool{}}
	p.ctx, p.stop = context.WithCancel(ctx)
	return p
}

// note records that the upstream said uri changed. It never waits: it is
// called from the SDK's client, which reads nothing more of the upstream
// meanwhile.
func (p *pendingUpdates) note(uri string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if uri == "" || p.pending[uri] || p.ctx.Err() != nil {
		return
	}
	if len(p.uris) >= maxPendingUpdates || p.bytes+len(uri) > maxPendingUpdateBytes {
		// Once a minute at most: the warning must not be the flood.
		if now := time.Now(); now.Sub(p.warned) >= time.Minute {
			p.warned = now
			p.log.Warn("gateway: an upstream announced more resource changes than the gateway keeps pending; the rest are dropped",
				"pending", len(p.uris), "bytes", p.bytes)
		}
		return
	}
	p.pending[uri] = true
	p.uris = append(p.uris, uri)
	p.bytes += len(uri)
	if !p.running {
		p.running = true
		go p.deliver()
	}
}

// deliver passes the pending URIs on, a round at a time (what is pending
// when the round starts), until none is left or the connection ends.
func (p *pendingUpdates) deliver() {
	for {
		p.mu.Lock()
		uris := p.uris
		if len(uris) == 0 || p.ctx.Err() != nil {
			p.running = false
			p.mu.Unlock()
			return
		}
		// A fresh set: one grown by a burst shrinks with it.
		p.uris, p.pending, p.bytes = nil, map[string]bool{}, 0
		p.mu.Unlock()
		r := &updateRound{from: p.from}
		for _, uri := range uris {
			if p.ctx.Err() != nil {
				break
			}
			p.g.resourceUpdated(p.ctx, r, uri)
		}
	}
}

// updateRound is one round of an upstream's resources/updated notices
// being passed on: which upstream sent them, and what mayHearOf found of
// each subscriber, so that one whose token was checked for one URI is not
// checked again for the next of the same round. Its findings are kept a
// second at most, and not past a change of the catalogue: a subscriber
// revoked or refused the upstream since is checked anew. A round is used
// by its deliver goroutine alone (mayHearOf runs in it too), so it needs
// no lock of its own.
type updateRound struct {
	from  string
	cat   *catalogue
	since time.Time
	heard map[*mcp.ServerSession]heard
}

// heard is what mayHearOf found of a subscriber, for the token it checked.
type heard struct {
	token string
	may   bool
}

// updateRoundFor is how long an updateRound's findings are kept.
const updateRoundFor = time.Second

// found returns what r found of ss with token, if it still holds.
func (r *updateRound) found(cat *catalogue, ss *mcp.ServerSession, token string) (may, ok bool) {
	if r.cat != cat || time.Since(r.since) > updateRoundFor {
		r.cat, r.since, r.heard = cat, time.Now(), map[*mcp.ServerSession]heard{}
		return false, false
	}
	h, ok := r.heard[ss]
	return h.may, ok && h.token == token
}

// passing is a URI whose resources/updated notices are being passed on
// (resourceUpdated), or waiting to be: by one round at a time, the one
// holding turn, so that guardResourceUpdated, which sees only the URI,
// knows exactly which upstream sent the notice. All but turn is guarded
// by the Gateway's updMu.
type passing struct {
	turn  chan struct{} // holds a token while a round passes the URI on
	r     *updateRound  // that round; nil between turns
	users int           // rounds holding or waiting for turn: the URI's entry goes with the last
}

// takeTurn waits until no other round passes uri on, or until ctx ends
// (ok false), and then records r as the round passing uri on, until
// release. Rounds of the same URI take their turns as the runtime serves
// a channel's blocked senders: in the order they came.
func (g *Gateway) takeTurn(ctx context.Context, r *updateRound, uri string) (release func(), ok bool) {
	g.updMu.Lock()
	p := g.updating[uri]
	if p == nil {
		if g.updating == nil {
			g.updating = map[string]*passing{}
		}
		p = &passing{turn: make(chan struct{}, 1)}
		g.updating[uri] = p
	}
	p.users++
	g.updMu.Unlock()
	leave := func() {
		g.updMu.Lock()
		if p.users--; p.users == 0 {
			delete(g.updating, uri)
		}
		g.updMu.Unlock()
	}
	select {
	case p.turn <- struct{}{}:
	case <-ctx.Done():
		leave()
		return nil, false
	}
	g.updMu.Lock()
	p.r = r
	g.updMu.Unlock()
	return func() {
		g.updMu.Lock()
		p.r = nil
		g.updMu.Unlock()
		<-p.turn
		leave()
	}, true
}

// passingOn returns the round passing uri on (takeTurn), nil when none
// is.
func (g *Gateway) passingOn(uri string) *updateRound {
	g.updMu.Lock()
	defer g.updMu.Unlock()
	if p := g.updating[uri]; p != nil {
		return p.r
	}
	return nil
}
