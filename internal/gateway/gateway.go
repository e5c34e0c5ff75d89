package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/buildinfo"
	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/slip"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/tools"
)

// Gateway is the MCP controller. Its exported fields are its dependencies;
// set them, Mount it, then Start it.
type Gateway struct {
	// Resource is the URI of /mcp, e.g. http://127.0.0.1:8080/mcp: the
	// audience access tokens must name, and the URL whose path is mounted.
	Resource string
	// Issuer is the tenant's issuer, which access tokens must name and the
	// protected resource metadata points clients to.
	Issuer string
	// Store holds the tenant's configuration (tools, users, clients,
	// upstreams). The gateway keeps it in memory and reloads it when the
	// store's revision moves; it writes only imported upstream tools.
	Store store.Store
	// Keys verifies access tokens.
	Keys *keys.Manager
	// Revocations says whether an access token (or its grant) was revoked;
	// nil means the Store's, which must then have one (sqldb's does).
	Revocations Revocations
	// Counters count each caller's tool calls against the tenant's
	// limits.tool_calls_per_minute, in the database so that the bound holds
	// across replicas; nil means the Store's (sqldb's has them). Asked only
	// when the tenant sets a bound.
	Counters Counters
	// Slips mints the permission slips, and redeems them for backends that
	// know no slips (upstream MCP servers).
	Slips *slip.Minter
	// Audit receives every decision, slip and result; nil discards (tests).
	Audit audit.Recorder
	// Logger receives operational logs; nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// AllowedOrigins lists the browser origins (scheme://host[:port]) that
	// may call /mcp, and so the Host names it answers to. Empty means only
	// the Resource's own origin (and, for a loopback Resource, the other
	// loopback names of its port).
	AllowedOrigins []string
	// ClientAddr is the address a request came from, as the audit trail
	// records it: behind trusted proxies, the client's (the identity
	// provider's ClientAddr). Nil means the connection's peer.
	ClientAddr func(*http.Request) string

	initOnce    sync.Once
	initErr     error
	resourceURL *url.URL
	server      *mcp.Server
	handler     http.Handler
	snap        atomic.Pointer[catalogue]
	tokens      tokenCache
	builtins    *tools.Builtins
	httpTools   *tools.HTTP
	// updating are the URIs whose resources/updated notices are being
	// passed on, or waiting to be, and by which round (resourceUpdated);
	// guarded by updMu.
	updMu    sync.Mutex
	updating map[string]*passing
	ups      *upstreams
	// ends says when a client was removed (notEnded): the Store's, when
	// it has an identity store.
	ends clientEnds

	reloadMu sync.Mutex // serialises rebuilds
	// behindSince is when the refresher first found the store's tenant
	// ahead of the catalogue and could not catch up (Unix ns); 0: it is
	// current (CatalogueLag).
	behindSince atomic.Int64
	refreshMu   sync.Mutex // one on-demand reload at a time (unknown clients)
	stop        context.CancelFunc
	done        sync.WaitGroup

	// The lists each session was last shown (see listchanged.go).
	viewsMu sync.Mutex
	views   map[*mcp.ServerSession]*sessionView
	notify  mcp.MethodHandler // sends the gateway's own list_changed
	// notices are the lists changed and not yet sent, by session; a
	// session is in it while its sender runs (listchanged.go).
	noticesMu sync.Mutex
	notices   map[*mcp.ServerSession]listBits
	// byCaller are each caller's sessions, least recently used first
	// (sessions.go); guarded by viewsMu.
	byCaller map[string][]*mcp.ServerSession

	// flights are the calls running on after their request ended, by
	// request state (mrtr.go).
	flights sync.Map
	// life ends at Close (stop), and the flights with it; flying counts
	// the flights running, flyClosed says Close waits for them (and no
	// new one starts).
	life      context.Context
	flyMu     sync.Mutex
	flyClosed bool
	flying    sync.WaitGroup

	// How many calls each caller has running (callslots.go).
	slotsMu sync.Mutex
	slots   map[string]int

	// The sessions with a standalone stream (GET) open, and how many.
	listenMu sync.Mutex
	listens  map[string]int
	// streams ends with EndStreams: the streams open for as long as their
	// client listens end with it.
	streams    context.Context
	endStreams context.CancelFunc

	// The upstreams' subscriptions, by upstream and URI, and each
	// session's (subscriptions.go).
	subsMu sync.Mutex
	subs   map[subKey]*upSub
	subsOf map[*mcp.ServerSession][]subKey
	// How many subscriptions each session has being forwarded, each
	// holding one of its maxSubscriptions (reserveSub).
	subsTaking map[*mcp.ServerSession]int

	// What each subscriptions/listen's session takes (listen.go).
	listenSubsMu sync.Mutex
	listenSubs   map[*mcp.ServerSession]listenSub
}

// Revocations is the part of the identity store the gateway asks before it
// trusts an access token again (see revocationRecheck).
type Revocations interface {
	Revoked(ctx context.Context, grantID, jti string) (bool, error)
}

// clientEnds says when a client ID was last removed (store.Identity's
// ClientEndedAt).
type clientEnds interface {
	ClientEndedAt(ctx context.Context, clientID string) (time.Time, error)
}

// Counters is the part of the identity store that counts, across
// replicas, in fixed windows (store.Identity's CountAttempt).
type Counters = store.AttemptCounter

// pollInterval is how often the gateway asks the store whether the tenant
// changed.
const pollInterval = time.Second

func (g *Gateway) now() time.Time {
	if g.Now != nil {
		return g.Now()
	}
	return time.Now()
}

func (g *Gateway) logger() *slog.Logger {
	if g.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return g.Logger
}

// sdkLogger is the logger the MCP SDK gets: its warnings and errors, not
// its information messages, which narrate every session's life (three
// lines per request on the stateless protocol revisions). What a call did
// is in the audit trail. The warnings and errors the SDK logs for a
// caller's own mistake (callerMistake) are debug lines.
func (g *Gateway) sdkLogger() *slog.Logger {
	return slog.New(minLevel{g.logger().Handler(), slog.LevelWarn})
}

// callerMistake reports whether msg is one the MCP SDK logs at WARN or
// ERROR for what a caller sent, answered with an error: a message out of
// the session's lifecycle (a request before initialize, initialize or
// initialized twice, a method a protocol revision lacks), a stateless
// revision asked of a session. Any client can send them, a batch one line
// per message: no fault of the gateway's, for an operator to be alerted on.
func callerMistake(msg string) bool {
	switch msg {
	case "method invalid during initialization", "duplicate initialize request",
		"duplicate initialized notification", "initialized before initialize",
		"method removed in the new protocol":
		return true
	}
	return strings.HasPrefix(msg, "rejecting request with protocol version ")
}

// minLevel passes records of at least min to h; a caller's mistake
// (callerMistake) at the debug level.
type minLevel struct {
	h   slog.Handler
	min slog.Level
}

func (m minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= m.min && m.h.Enabled(ctx, l)
}
func (m minLevel) Handle(ctx context.Context, r slog.Record) error {
	if r.Level > slog.LevelDebug && callerMistake(r.Message) {
		if !m.h.Enabled(ctx, slog.LevelDebug) {
			return nil
		}
		r.Level = slog.LevelDebug
	}
	return m.h.Handle(ctx, r)
}
func (m minLevel) WithAttrs(as []slog.Attr) slog.Handler {
	return minLevel{m.h.WithAttrs(as), m.min}
}
func (m minLevel) WithGroup(name string) slog.Handler { return minLevel{m.h.WithGroup(name), m.min} }

func (g *Gateway) recorder() audit.Recorder {
	if g.Audit == nil {
		return audit.Discard
	}
	return g.Audit
}

func (g *Gateway) catalogue() *catalogue { return g.snap.Load() }

func (g *Gateway) init() error {
	g.initOnce.Do(func() {
		u, err := url.Parse(g.Resource)
		if err != nil || u.Scheme == "" || u.Host == "" {
			g.initErr = fmt.Errorf("gateway: Resource %q is not an absolute URL", g.Resource)
			return
		}
		if u.Path == "" {
			u.Path = "/"
		}
		g.resourceURL = u
		// The call path writes a durable tool.result after every backend
		// call, which covers the queued slip.redeemed.
		g.builtins = &tools.Builtins{Slips: g.Slips, QueueRedemptions: true}
		g.httpTools = &tools.HTTP{}
		g.ups = newUpstreams(g)
		g.views = map[*mcp.ServerSession]*sessionView{}
		// list_changed goes to each caller when its own list changed
		// (listchanged.go).
		caps := &mcp.ServerCapabilities{
			Tools:       &mcp.ToolCapabilities{ListChanged: true},
			Prompts:     &mcp.PromptCapabilities{ListChanged: true},
			Resources:   &mcp.ResourceCapabilities{Subscribe: true, ListChanged: true},
			Completions: &mcp.CompletionCapabilities{},
		}
		addLogging(caps)
		g.server = mcp.NewServer(&mcp.Implementation{Name: "gatehouse", Title: "Gatehouse", Version: buildinfo.Version}, &mcp.ServerOptions{
			Logger:             g.sdkLogger(),
			Instructions:       "Gatehouse lists the tools you may call for the signed-in person. Each call is checked and audited.",
			Capabilities:       caps,
			SubscribeHandler:   g.subscribe,
			UnsubscribeHandler: g.unsubscribe,
			SetCacheable:       setCacheable,
		})
		g.server.AddReceivingMiddleware(g.track, g.intercept)
		g.server.AddSendingMiddleware(restoreElicitSchema)
		g.server.AddSendingMiddleware(g.dropListChanged)
		g.server.AddSendingMiddleware(g.guardResourceUpdated)
		g.server.AddSendingMiddleware(g.noteListen)
		getServer := func(*http.Request) *mcp.Server { return g.server }
		// Sessions for the protocol revisions that have them; one
		// stateless handler for 2026-07-28 and later, which have none.
		stateful := mcp.NewStreamableHTTPHandler(getServer, &mcp.StreamableHTTPOptions{
			Logger: g.sdkLogger(), SessionTimeout: 30 * time.Minute,
			// guardOrigin checks Host against the Resource, which also
			// works behind a reverse proxy on the same machine.
			DisableLocalhostProtection: true,
		})
		// On the stateless revisions a request is its whole lifecycle: a
		// caller cancels a call by dropping it, so the call's context ends
		// with the HTTP request's (the upstream is told, the caller's call
		// slot freed).
		stateless := mcp.NewStreamableHTTPHandler(getServer, &mcp.StreamableHTTPOptions{
			Logger: g.sdkLogger(), Stateless: true, DisableLocalhostProtection: true,
			PropagateRequestCancellation: true,
		})
		g.streams, g.endStreams = context.WithCancel(context.Background())
		// A stream that lasts as long as its client listens also ends
		// when the server stops (EndStreams).
		untilEnd := func(r *http.Request) (*http.Request, func()) {
			ctx, cancel := context.WithCancel(r.Context())
			stop := context.AfterFunc(g.streams, cancel)
			return r.WithContext(ctx), func() { stop(); cancel() }
		}
		dispatch := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// Every write to the caller is bounded (writebound.go): the
			// SDK writes what an upstream sends on in the goroutine that
			// passes on that upstream's notifications to everyone.
			w = boundWrites(w)
			id := r.Header.Get("Mcp-Session-Id")
			if v := r.Header.Get("Mcp-Protocol-Version"); v >= "2026-07-28" && id == "" {
				if r.Header.Get("Mcp-Method") == methodSubscriptionsListen {
					var done func()
					r, done = untilEnd(r)
					defer done()
				}
				stateless.ServeHTTP(w, r)
				return
			}
			if r.Method == http.MethodDelete && id != "" {
				if ti := auth.TokenInfoFromContext(r.Context()); ti != nil {
					g.endSession(id, ti.UserID)
				}
			}
			if r.Method == http.MethodGet && id != "" {
				defer g.listen(id)()
				var done func()
				r, done = untilEnd(r)
				defer done()
			}
			stateful.ServeHTTP(w, r)
		})
		g.handler = noStore(g.guardOrigin(g.authenticate(answerInJSONRPC(dispatch))))
	})
	return g.initErr
}

// EndStreams ends the streams open for as long as their client listens
// (a session's standalone GET stream, a subscriptions/listen request), and
// every one opened from now on: a server shutting down waits for the
// requests in flight, and would wait for these its whole grace period.
// Requests in flight are left to finish.
func (g *Gateway) EndStreams() {
	if g.init() == nil {
		g.endStreams()
	}
}

// listen notes that session id has a standalone stream open until the
// returned function is called.
func (g *Gateway) listen(id string) (done func()) {
	g.listenMu.Lock()
	if g.listens == nil {
		g.listens = map[string]int{}
	}
	g.listens[id]++
	g.listenMu.Unlock()
	return func() {
		g.listenMu.Lock()
		defer g.listenMu.Unlock()
		if g.listens[id]--; g.listens[id] <= 0 {
			delete(g.listens, id)
		}
	}
}

// listening reports whether session id has a standalone stream open.
func (g *Gateway) listening(id string) bool {
	g.listenMu.Lock()
	defer g.listenMu.Unlock()
	return g.listens[id] > 0
}

// metadataURL is where the protected resource metadata is (RFC 9728
// section 3.1: the well-known prefix inserted before the resource's path).
func (g *Gateway) metadataURL() string {
	u := *g.resourceURL
	u.Path = g.metadataPath()
	u.RawQuery, u.Fragment = "", ""
	return u.String()
}

func (g *Gateway) metadataPath() string {
	return "/.well-known/oauth-protected-resource" + strings.TrimSuffix(g.resourceURL.Path, "/")
}

// Mount registers /mcp (the Resource's path) and its protected resource
// metadata on mux. It panics if Resource is not an absolute URL.
func (g *Gateway) Mount(mux *http.ServeMux) {
	if err := g.init(); err != nil {
		panic(err)
	}
	mux.Handle(g.resourceURL.Path, g.handler)
	meta := auth.ProtectedResourceMetadataHandler(&oauthex.ProtectedResourceMetadata{
		Resource:               g.Resource,
		AuthorizationServers:   []string{g.Issuer},
		BearerMethodsSupported: []string{"header"},
		ResourceName:           "Gatehouse MCP gateway",
	})
	mux.Handle("GET "+g.metadataPath(), meta)
	mux.Handle("OPTIONS "+g.metadataPath(), meta)
}

// Start loads the catalogue, starts the upstream MCP servers and the
// refresher that reloads the catalogue when the tenant changes. It returns
// once the catalogue is loaded; upstreams connect in the background.
// On Linux it makes the whole process non-dumpable first, for the stdio
// upstreams' sake: nothing else of the process's user may then read its
// environment or memory through /proc or attach a debugger to it.
func (g *Gateway) Start(ctx context.Context) error {
	if err := g.init(); err != nil {
		return err
	}
	// Before any stdio upstream starts: it runs as the gateway's user,
	// and its filtered environment is worth little if it can read the
	// gateway's own from /proc.
	if err := makeUndumpable(); err != nil {
		g.logger().Warn("gateway: the process could not be made non-dumpable; programs of its user can read its environment", "err", err)
	}
	// Nor may it inherit a descriptor the gateway was given by whoever
	// started it (a file opened for it without close-on-exec).
	if err := closeInheritedOnExec(); err != nil {
		g.logger().Warn("gateway: inherited descriptors could not be marked close-on-exec; stdio upstreams inherit them", "err", err)
	}
	if st, ok := g.Store.(interface{ Identity() store.Identity }); ok {
		if g.Revocations == nil {
			g.Revocations = st.Identity()
		}
		if g.Counters == nil {
			g.Counters = st.Identity()
		}
		g.ends = st.Identity()
	}
	if g.Slips == nil || g.Keys == nil || g.Store == nil || g.Revocations == nil || g.Counters == nil {
		return errors.New("gateway: Store, Keys, Slips, Revocations and Counters are required")
	}
	if err := g.Reload(ctx); err != nil {
		return err
	}
	ctx, g.stop = context.WithCancel(context.WithoutCancel(ctx))
	g.life = ctx
	g.done.Add(1)
	go func() {
		defer g.done.Done()
		g.refresh(ctx)
	}()
	return nil
}

// Close stops the refresher and the upstream servers and ends the MCP
// sessions.
func (g *Gateway) Close() error {
	if g.stop != nil {
		g.stop()
	}
	g.done.Wait()
	// Flights end with the gateway (stop cancelled them), their results
	// recorded, before their upstreams close.
	g.flyMu.Lock()
	g.flyClosed = true
	g.flyMu.Unlock()
	g.flying.Wait()
	if g.ups != nil {
		g.ups.closeAll()
	}
	if g.server != nil {
		// Their requests in flight end first: Close waits for them.
		g.viewsMu.Lock()
		for _, v := range g.views {
			v.end()
		}
		g.viewsMu.Unlock()
		for s := range g.server.Sessions() {
			s.Close()
		}
	}
	return nil
}

func (g *Gateway) refresh(ctx context.Context) {
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	var keysRev int64 = -1 // the revision the keys were last loaded at; -1: not by this loop
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		g.poll(ctx, &keysRev)
	}
}

// CatalogueLag is how long the tenant in the store has been ahead of the
// catalogue this gateway decides on, as its refresher last found it (its
// reloads failing, or the store's revision unreadable, since then); 0 when
// it is current. Access taken away in the store still stands here for as
// long: operators alert on it (/metrics).
func (g *Gateway) CatalogueLag() time.Duration {
	since := g.behindSince.Load()
	if since == 0 {
		return 0
	}
	return time.Since(time.Unix(0, since))
}

// behind notes that the catalogue may be behind the store from now, unless
// it was already.
func (g *Gateway) behind() { g.behindSince.CompareAndSwap(0, time.Now().UnixNano()) }

// poll is one round of the refresher: the signing keys and the catalogue
// reloaded when the tenant's revision moved.
func (g *Gateway) poll(ctx context.Context, keysRev *int64) {
	rev, err := g.Store.Revision(ctx)
	if err != nil {
		if ctx.Err() == nil {
			g.behind()
			g.logger().Warn("gateway: read tenant revision", "err", err)
		}
		return
	}
	if rev != *keysRev {
		// A key withdrawn elsewhere ('keys rotate --now', a
		// compromised key) vouches for nothing from this poll on:
		// the cached tokens it signed fail their next recheck
		// (RevocationRecheck), not the server's next background
		// reload, seconds later. Tracked apart from the catalogue,
		// which find may have reloaded at this revision already.
		if err := g.Keys.Load(ctx); err != nil {
			if ctx.Err() == nil {
				g.logger().Warn("gateway: reload signing keys", "err", err)
			}
		} else {
			*keysRev = rev
		}
	}
	if cur := g.catalogue(); cur != nil && cur.rev == rev {
		g.behindSince.Store(0)
		return
	}
	if err := g.Reload(ctx); err != nil {
		if ctx.Err() == nil {
			g.behind()
			g.logger().Warn("gateway: reload catalogue", "err", err)
		}
		return
	}
	g.behindSince.Store(0)
}

// Reload rereads the tenant from the store now and rebuilds the catalogue,
// then brings the upstream servers in line with it.
func (g *Gateway) Reload(ctx context.Context) error {
	if err := g.init(); err != nil {
		return err
	}
	d, err := loadTenant(ctx, g.Store)
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	g.rebuild(d)
	g.ups.sync(d.rev, d.upstreams)
	return nil
}

// rebuild makes a new catalogue from d (nil: the current tenant data) and
// the upstreams' live definitions, publishes it and tells the sessions
// whose tool list it changes (refreshViews).
func (g *Gateway) rebuild(d *tenantData) {
	g.reloadMu.Lock()
	defer g.reloadMu.Unlock()
	cur := g.catalogue()
	if d == nil {
		if cur == nil {
			return
		}
		d = cur.data
	}
	if cur != nil && d.rev < cur.rev {
		// Read before the data of the catalogue already published (two
		// reloads crossed): publishing it would take changes back, and
		// tell sessions their list changed twice.
		return
	}
	cat, err := buildCatalogue(d, g.ups.live())
	if cat == nil {
		g.logger().Error("gateway: catalogue", "err", err)
		return
	}
	if err != nil {
		g.logger().Warn("gateway: tools left out of the policy", "err", err)
	}
	cat.data = d
	g.snap.Store(cat)
	g.refreshViews(cat)
}
