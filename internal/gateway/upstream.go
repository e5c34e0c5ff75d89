package gateway

// Design note: upstream MCP servers.
//
// Each upstream in the tenant gets one supervisor goroutine holding one MCP
// client session (stdio: a process Gatehouse starts; or Streamable HTTP).
// When the session ends (the process died, the server went away, pings
// failed), the supervisor starts it again with a backoff. The live tool
// definitions are kept in memory and joined into the catalogue.
//
// Each definition is pinned by the SHA-256 of its canonical JSON (without
// _meta). A definition first seen for a tool the tenant declared is pinned
// on sight (the admin named it); a tool the upstream adds by itself is
// imported pending; a pinned definition that changes withholds the tool
// until an admin approves the new one (Approve). A tool whose live hash is
// not its pinned hash is never listed or run, whatever the store says.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/buildinfo"
	"github.com/gatehouse/gatehouse/internal/clip"
	"github.com/gatehouse/gatehouse/internal/slip"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/tools"
	"github.com/gatehouse/gatehouse/slipverify"
)

// upstreamProtocol is the MCP revision the gateway speaks to upstreams.
const upstreamProtocol = "2025-11-25"

// Supervision timings.
const (
	restartMin = 500 * time.Millisecond
	restartMax = 30 * time.Second
)

// upstreamPing is how often the gateway pings an upstream's session: what
// tells it of an upstream that stopped answering without closing.
var upstreamPing = 20 * time.Second

type upstreams struct {
	g      *Gateway
	ctx    context.Context
	cancel context.CancelFunc

	mu    sync.Mutex
	conns map[string]*upConn
	wg    sync.WaitGroup // every supervisor
	// behind counts the closings of lanes' sessions that no one waits for
	// (closeBehind); it is added to under mu while ctx is not done.
	behind sync.WaitGroup
	// stops counts the stdio upstreams' process groups still being
	// stopped (groupStops).
	stops groupStops

	progress sync.Map // progressKey → func forwarding to the caller

	// rev is the tenant revision conns were last brought in line with
	// (sync); guarded by mu.
	rev int64
}

var _ tools.Backend = (*upstreams)(nil)

// upConn is one supervised upstream.
type upConn struct {
	cfg    store.Upstream
	ctx    context.Context // the supervisor's: lanes connect under it
	cancel context.CancelFunc
	done   chan struct{}
	// callTimeout is cfg.CallTimeout as the tenant now has it (ns): a
	// change applies without a restart.
	callTimeout atomic.Int64

	mu       sync.Mutex
	session  *mcp.ClientSession
	barriers *barriers          // the session's (see barrier.go)
	defs     map[string]liveDef // by upstream tool name
	// current reads a tool's stored entry as it is now (checkServed, for
	// a tool not pinned yet in the catalogue a call was decided on).
	current func(ctx context.Context, name string) (store.Tool, error)
	// listing counts the listings of the session's tools under way
	// (connecting, or told its tools changed); listed is closed when the
	// last one ends. Calls wait for it: a definition not listed yet is
	// not checked against its pin yet.
	listing  int
	listed   chan struct{}
	restarts int
	lastErr  string
	inflight map[*inflightCall]bool
	tags     sync.Map // a call's tag → its *inflightCall (calltag.go)
	features features
	// featuresMu serialises refreshFeatures, toolsMu refreshTools: an
	// older listing is never kept over a newer one.
	featuresMu, toolsMu sync.Mutex
	// leftOut is what the last listing left out as not importable (under
	// toolsMu), so that a listing leaving out the same tools again, as an
	// upstream that says its tools changed in a loop has listed over and
	// over, is not warned of again; taken, the same of the tools it did
	// not import because their names are taken.
	leftOut, taken string
	// toolsRelist and featuresRelist run the listings the upstream asks
	// for when it says its tools, or its prompts or resources, changed.
	toolsRelist, featuresRelist relister
	lanes                       // callers' own sessions (lanes.go)
	// sessions are the session IDs the upstream sent on c's sessions,
	// which scrub takes out of c's errors.
	sessions sessionIDs
}

// inflightCall is a call running on an upstream, with the caller's session
// and the call's context, where what the upstream asks during the call
// (sampling, elicitation, log messages) is relayed.
type inflightCall struct {
	ctx     context.Context
	session *mcp.ServerSession
	caller  string // tools.Call.Caller
	// ask, when not nil, takes the upstream's requests in place of
	// session (tools.Call.Ask); logTo its log messages (tools.Call.Log).
	ask askFunc
	//lint:ignore SA1019 logging is deprecated from protocol revision 2026-07-28 on; the revisions before it have it, and the gateway relays it.
	logTo func(*mcp.LoggingMessageParams)
	// abandoned (guarded by upConn.mu): the caller stopped waiting (it
	// cancelled, or its request ended) before the upstream answered, so
	// the upstream may still be working on it.
	abandoned bool
	// answered (guarded by upConn.mu): the upstream's result came. The
	// SDK hands notifications to their handler apart from responses, so
	// what the upstream sent before its result may still be on its way.
	answered bool
	// relayed counts the notifications (progress, log messages) relayed
	// for the call, against maxRelayed; asked the requests (sampling,
	// elicitation), against maxAsked; askedBytes the size of those still
	// waiting for their answer, against maxAskBytes.
	relayed, asked, askedBytes atomic.Int64
}

// maxAsked bounds the requests an upstream may have relayed to a caller
// during one call (sampling, which spends the caller's model, and
// elicitation, which asks the person): past it the upstream is refused.
var maxAsked int64 = 100

var errTooManyAsks = errors.New("gatehouse relays no more sampling or elicitation requests for this call")

// maxAskBytes bounds the size (as JSON) of the requests of one call
// waiting for their caller's answer at once. Each may be as large as an
// upstream's message (maxUpstreamBody), and they wait as long as the
// person takes: maxAsked of them at once would hold over a gigabyte for
// one call. Held together they may be no larger than one message; those
// asked one after the other are not summed.
var maxAskBytes int64 = maxUpstreamBody

var errAsksTooLarge = errors.New("gatehouse relays no more sampling or elicitation requests for this call until those waiting are answered: together they are too large")

// byteCount is a writer that counts what is written to it.
type byteCount int64

func (c *byteCount) Write(p []byte) (int, error) {
	*c += byteCount(len(p))
	return len(p), nil
}

// askFor is the call p, a request of the upstream (sampling,
// elicitation), is relayed for, within the call's maxAsked and
// maxAskBytes; done is called once p is answered or given up.
func (c *upConn) askFor(ctx context.Context, p any) (_ *inflightCall, done func(), _ error) {
	f := c.forRequest(ctx)
	if f == nil || f.session == nil && f.ask == nil {
		return nil, nil, errUnattributable
	}
	if f.asked.Add(1) > maxAsked {
		return nil, nil, errTooManyAsks
	}
	// Measured as it would be written, without keeping a copy, nor
	// counting <, > and & as the 6-byte escapes Marshal makes of them.
	var size byteCount
	enc := json.NewEncoder(&size)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(p); err != nil {
		return nil, nil, err
	}
	n := int64(size)
	if f.askedBytes.Add(n) > maxAskBytes {
		f.askedBytes.Add(-n)
		return nil, nil, errAsksTooLarge
	}
	return f, func() { f.askedBytes.Add(-n) }, nil
}

// maxRelayed bounds the notifications relayed to a caller for one call:
// an upstream that floods progress or log messages cannot flood the
// caller, and the gateway tells it once (a warning) and drops the rest.
var maxRelayed int64 = 10_000

// relay reports whether one more notification may go to f's caller.
func (f *inflightCall) relay(log *slog.Logger) bool {
	switch n := f.relayed.Add(1); {
	case n <= maxRelayed:
		return true
	case n == maxRelayed+1:
		log.Warn("gateway: an upstream sent more notifications during a call than the gateway relays; the rest are dropped", "relayed", maxRelayed)
	}
	return false
}

// sole returns the call on c that what the upstream sends now (a log
// message, a sampling or elicitation request) belongs to, or nil when that
// is in doubt: for a message that came with no call's tag (calltag.go).
// MCP gives a server-to-client message no link to the call it
// serves, and all calls share one upstream session, so a message is
// relayed only when every call that may have sent it is one caller's (one
// person through one agent), never to a guess about whose. The candidates
// are the calls running, those the upstream answered in the last
// answeredLinger (their notifications may still be on their way) and
// those whose caller gave up (the upstream may still be working on them;
// they are never a target, and another caller's puts everything in doubt),
// and the gateway's own requests (ownRequests), which are no caller's and
// so put everything in doubt too.
func (c *upConn) sole() *inflightCall {
	c.mu.Lock()
	defer c.mu.Unlock()
	caller := ""
	var running, answered *inflightCall
	n := 0
	for f := range c.inflight {
		if f.session == nil || f.caller == "" || (caller != "" && f.caller != caller) {
			return nil
		}
		caller = f.caller
		switch {
		case f.abandoned: // the same caller's, given up: never a target
		case f.answered:
			answered = f
		default:
			running = f
			n++
		}
	}
	switch n {
	case 0:
		return answered
	case 1:
		return running
	}
	return nil // two calls running for one caller: which one is in doubt
}

// answeredLinger is how long a call the upstream answered still counts as
// running on it (see sole): its own late notifications still find it, and
// nobody else's call is taken for their source meanwhile.
const answeredLinger = 2 * time.Second

// abandonQuarantine is how long a call its caller abandoned still counts
// as running on its upstream (see sole): MCP's notifications/cancelled is
// not acknowledged, so the gateway cannot know when the upstream stopped.
// While it counts, the upstream's log messages are not relayed and its
// sampling and elicitation requests are refused: none can be attributed.
const abandonQuarantine = 2 * time.Minute

// begin registers f as running on c.
func (c *upConn) begin(f *inflightCall) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inflight == nil {
		c.inflight = map[*inflightCall]bool{}
	}
	c.inflight[f] = true
}

// track registers a request that session's caller sends to c as running
// there, so that what the upstream says while serving it is relayed to that
// caller and nobody else (sole, calltag.go): a tool call, and also a
// prompt, resource or completion request, which the upstream may serve
// with log messages or an elicitation as well. It returns the request's
// call, send (sendCtx with the call's tag: send the request in it) and
// done, which takes the call off c; abandoned is whether the caller
// stopped waiting, or the request passed its bound, before the upstream
// answered. ctx is the caller's, where messages are relayed.
func (c *upConn) track(ctx, sendCtx context.Context, session *mcp.ServerSession, caller string, r relays) (f *inflightCall, send context.Context, done func(abandoned bool)) {
	f = &inflightCall{ctx: ctx, session: session, caller: caller, ask: r.ask, logTo: r.log}
	c.begin(f)
	tag := slip.NewID()
	c.tags.Store(tag, f)
	return f, withCallTag(sendCtx, tag), func(abandoned bool) {
		c.tags.Delete(tag)
		c.end(f, abandoned)
	}
}

// end takes f off c: after answeredLinger if the upstream answered it,
// after abandonQuarantine if its caller gave up first.
func (c *upConn) end(f *inflightCall, abandoned bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lastUsed = time.Now()
	linger := answeredLinger
	if abandoned {
		f.abandoned, linger = true, abandonQuarantine
	} else {
		f.answered = true
	}
	time.AfterFunc(linger, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		delete(c.inflight, f)
	})
}

// ownRequests is the sending middleware of a session of c's (the upConn's
// own, or a lane's) that keeps each request the gateway sends there on its
// own account in c's inflight while the upstream may be answering it: a
// listing of its tools, prompts or resources, its log level set, a
// subscription kept across a reconnection. The SDK's keep-alive ping is
// left out (see below). A request sent for a caller carries its call's tag
// (track) and is left alone.
//
// What an upstream sends while answering such a request is for no caller,
// yet a stdio upstream (and a Streamable HTTP one, on its standalone
// stream) sends it untagged, where sole would give it to the one caller
// whose call happens to be running: the log of a tools/list, naming tools
// that caller may not see, or a question meant for no one. The request's
// entry has no session and no caller, so that while it is there sole finds
// the source of an untagged message in doubt: it goes to the gateway's log
// (debug), and a sampling or elicitation request is refused. It is there
// from before the request is written until what the upstream sent before
// its answer has been handled (the barrier before the answer, bars: the
// request returns only then, within barrierWait), or, when the gateway
// gave up waiting for the answer, for abandonQuarantine or until the
// connection closes, as a call whose caller gave up. Only
// then does a sole caller's call again get what the upstream sends
// untagged: the price is that its own log messages sent during the
// gateway's request go to the gateway's log too, a request rarer than the
// calls. A ping is left out: answering one, an upstream has nothing to
// say, and the keep-alive pings every upstreamPing, which would put every
// caller's messages in doubt that often.
func (c *upConn) ownRequests(bars *barriers) mcp.Middleware {
	return func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			if _, call := callTag(ctx); call || method == "ping" || strings.HasPrefix(method, "notifications/") {
				return next(ctx, method, req)
			}
			f := &inflightCall{} // no session, no caller: never a target
			c.begin(f)
			res, err := next(ctx, method, req)
			abandoned := err != nil && ctx.Err() != nil
			drop := func() {
				c.mu.Lock()
				defer c.mu.Unlock()
				delete(c.inflight, f)
			}
			if !abandoned {
				// Before the gateway goes on: it may next send a call.
				bars.wait(context.Background())
				drop()
				return res, err
			}
			c.mu.Lock()
			f.abandoned = true // a lane may close meanwhile (idle)
			c.mu.Unlock()
			go func() {
				t := time.NewTimer(abandonQuarantine)
				defer t.Stop()
				select {
				case <-t.C:
				case <-bars.gone:
				}
				drop()
			}()
			return res, err
		}
	}
}

var errUnattributable = errors.New("gatehouse relays a request of an upstream only while exactly one call of it is running")

func newUpstreams(g *Gateway) *upstreams {
	ctx, cancel := context.WithCancel(context.Background())
	return &upstreams{g: g, ctx: ctx, cancel: cancel, conns: map[string]*upConn{}}
}

// sync starts, restarts and stops supervisors to match the tenant's
// upstreams as of revision rev. Upstreams read before those it last
// matched are left alone: two reloads crossed, and the older one's would
// take the newer one's changes back (as rebuild does not publish its
// catalogue), until the tenant next changes.
func (u *upstreams) sync(rev int64, cfgs []store.Upstream) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.ctx.Err() != nil || rev < u.rev {
		return
	}
	u.rev = rev
	want := map[string]store.Upstream{}
	for _, c := range cfgs {
		want[c.Name] = c
	}
	for name, c := range u.conns {
		w, ok := want[name]
		if !ok || !slices.Equal(w.Command, c.cfg.Command) || w.URL != c.cfg.URL || !maps.Equal(w.HeadersEnv, c.cfg.HeadersEnv) ||
			!slices.Equal(w.Env, c.cfg.Env) || w.PerCaller != c.cfg.PerCaller {
			// Not waited for here: the supervisor may be calling sync.
			c.cancel()
			delete(u.conns, name)
			continue
		}
		// A new bound applies to the next calls, no restart needed.
		c.callTimeout.Store(int64(w.CallTimeout))
	}
	for name, cfg := range want {
		if _, ok := u.conns[name]; ok {
			continue
		}
		ctx, cancel := context.WithCancel(u.ctx)
		c := &upConn{cfg: cfg, ctx: ctx, cancel: cancel, done: make(chan struct{}), current: u.g.Store.Tools().Get}
		c.callTimeout.Store(int64(cfg.CallTimeout))
		u.conns[name] = c
		u.wg.Add(1)
		go func() {
			defer u.wg.Done()
			u.supervise(ctx, c)
		}()
	}
}

func (u *upstreams) closeAll() {
	// Under mu: closeBehind adds to behind only before this.
	u.mu.Lock()
	u.cancel()
	u.mu.Unlock()
	u.wg.Wait()
	u.behind.Wait()
	// What ignored the SIGTERM is killed before the gateway's Close
	// returns: the process may exit right after it.
	u.stops.wait()
}

// live returns every connected upstream's tool definitions.
func (u *upstreams) live() map[string]map[string]liveDef {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := map[string]map[string]liveDef{}
	for name, c := range u.conns {
		c.mu.Lock()
		if c.defs != nil {
			out[name] = c.defs
		}
		c.mu.Unlock()
	}
	return out
}

func (u *upstreams) conn(name string) *upConn {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.conns[name]
}

// supervise keeps c's session up until ctx ends.
func (u *upstreams) supervise(ctx context.Context, c *upConn) {
	defer close(c.done)
	defer func() { closeLanes(c.takeLanes()) }()
	log := u.g.logger().With("upstream", c.cfg.Name)
	backoff := restartMin
	for {
		started := time.Now()
		err := c.logErr(u.serve(ctx, c))
		if ctx.Err() != nil {
			return
		}
		c.mu.Lock()
		c.session = nil
		c.restarts++
		if err != "" {
			c.lastErr = err
		}
		c.mu.Unlock()
		if time.Since(started) > time.Minute {
			backoff = restartMin
		}
		log.Warn("gateway: upstream stopped; restarting", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, restartMax)
	}
}

// serve connects once, imports the tools and waits until the session ends.
func (u *upstreams) serve(ctx context.Context, c *upConn) error {
	log := u.g.logger().With("upstream", c.cfg.Name)
	// The resources/updated notices of this connection not passed on yet,
	// dropped when it ends.
	updates := newPendingUpdates(ctx, u.g, c.cfg.Name, log)
	defer updates.stop()
	// The gateway's own session also hears of changes to the upstream's
	// lists and resources.
	opts := &mcp.ClientOptions{
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) {
			// Not from the handler itself: listing needs the connection
			// the handler is being called from. Calls wait for the new
			// list from now on. Coalesced: an upstream that says so in a
			// loop gets one listing at a time.
			c.toolsRelist.request(c.beginListing, func() {
				if err := u.refreshTools(ctx, c); err != nil && ctx.Err() == nil {
					log.Warn("gateway: relist upstream tools", "err", c.logErr(err))
				}
			})
		},
		PromptListChangedHandler: func(context.Context, *mcp.PromptListChangedRequest) {
			c.featuresRelist.request(nil, func() { u.refreshFeatures(ctx, c) })
		},
		ResourceListChangedHandler: func(context.Context, *mcp.ResourceListChangedRequest) {
			c.featuresRelist.request(nil, func() { u.refreshFeatures(ctx, c) })
		},
		// Noted, coalesced, and passed on apart: the handler must not
		// wait (see pendingUpdates).
		ResourceUpdatedHandler: func(_ context.Context, req *mcp.ResourceUpdatedNotificationRequest) {
			if req.Params != nil {
				updates.note(req.Params.URI)
			}
		},
	}
	cs, bars, err := u.connect(ctx, c, opts, log, 30*time.Second)
	if err != nil {
		return err
	}
	defer bars.close()
	// Not waited for: a lane still opening would hold the session back.
	go closeLanes(c.takeLanes())
	defer cs.Close()
	// A new session (a restarted process, a reconnection) may serve other
	// definitions than the last one: no call goes out on it before its
	// tools are listed and checked.
	listed := c.beginListing()
	// What the sessions are subscribed to until now, for the new session
	// (resubscribe); what they subscribe to from now on goes through it.
	subKeys, subEntries, releaseSubs := u.g.heldSubs(c.cfg.Name)
	defer func() {
		if releaseSubs != nil {
			releaseSubs() // the session ended before resubscribe took them
		}
	}()
	c.mu.Lock()
	c.session, c.barriers = cs, bars
	c.lastErr = ""
	c.mu.Unlock()
	// Logs first: once its tools are listed, a call may run, and an
	// upstream with no log level set sends no log messages.
	enableLogs(ctx, c, cs, log)
	err = u.refreshTools(ctx, c)
	listed()
	if err != nil {
		return err
	}
	u.refreshFeatures(ctx, c)
	// A new session has none of the subscriptions the sessions still
	// hold (subscriptions.go).
	releaseSubs = nil // resubscribe lets go of them
	go u.g.resubscribe(ctx, c, cs, subKeys, subEntries)
	log.Info("gateway: upstream connected")
	ended := make(chan error, 1)
	go func() { ended <- cs.Wait() }()
	// Idle lanes end on time even when no call comes to look for them.
	sweep := time.NewTicker(laneIdle() / 8)
	defer sweep.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-ended:
			if err == nil {
				err = errors.New("the connection closed")
			}
			return err
		case now := <-sweep.C:
			c.mu.Lock()
			idle := c.idleLanes(now)
			c.mu.Unlock()
			u.closeBehind(idle)
		}
	}
}

// connect opens a session with c's upstream whose calls are attributed
// through c (the upConn itself, or one of its lanes): what the upstream
// sends or asks during a call is relayed to the caller of the one call of
// c's running then (see sole). opts may carry handlers of its own.
func (u *upstreams) connect(ctx context.Context, c *upConn, opts *mcp.ClientOptions, log *slog.Logger, timeout time.Duration) (*mcp.ClientSession, *barriers, error) {
	opts.Capabilities = &mcp.ClientCapabilities{}
	opts.KeepAlive = upstreamPing
	opts.ProgressNotificationHandler = func(ctx context.Context, req *mcp.ProgressNotificationClientRequest) {
		if f, ok := u.progress.Load(progressKey{req.Session, fmt.Sprint(req.Params.ProgressToken)}); ok {
			p := *req.Params
			f.(func(context.Context, *mcp.ProgressNotificationParams))(ctx, &p)
		}
	}
	// Announces elicitation; requests are relayed by relayElicitations,
	// before the SDK's own schema checks. (A URL-elicitation-required
	// error is no request: it goes back to the caller as the call's
	// error, its URLs checked there: relayedError.)
	opts.ElicitationHandler = func(ctx context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
		f, done, err := c.askFor(ctx, req.Params)
		if err != nil {
			return nil, err
		}
		defer done()
		return f.elicit(ctx, req.Params)
	}
	c.relayDeprecated(opts, log)
	client := mcp.NewClient(&mcp.Implementation{Name: "gatehouse-gateway", Version: buildinfo.Version}, opts)
	bars := newBarriers()
	client.AddReceivingMiddleware(takeTags, c.relayElicitations, bars.receive)
	client.AddSendingMiddleware(c.ownRequests(bars))
	var transport mcp.Transport
	switch {
	case len(c.cfg.Command) > 0:
		env, err := upstreamEnv(c.cfg, os.Environ(), os.LookupEnv)
		if err != nil {
			return nil, nil, err
		}
		cmd, err := stdioCommand(c.cfg.Command, env)
		if err != nil {
			return nil, nil, err
		}
		cmd.Stderr = newLogWriter(log)
		dropped := func(answered bool) {
			log.Warn("gateway: a message of the upstream's past the bound was dropped", "bound_mib", maxUpstreamBody>>20, "answered_with_error", answered)
		}
		stray := newStrayLog(log)
		transport = barrierTransport{Transport: stdioTransport(cmd, opts.KeepAlive, dropped, func(line []byte) { stray.Write(line) }, &u.stops), b: bars}
	case c.cfg.URL != "":
		hc, err := upstreamClient(c.cfg, os.LookupEnv)
		if err != nil {
			return nil, nil, err
		}
		// Answers are bounded (upstreambody.go) beneath the barriers,
		// which bound each event of a stream.
		// Around them all, each request runs under a context that lets an
		// answered one keep its connection (keepconn.go).
		// Innermost, the session IDs its answers carry are noted, for
		// scrub.
		hc = &http.Client{Transport: keepConns{base: barrierTripper{base: boundedBodies{base: sessionTripper{base: hc.Transport, ids: &c.sessions}}, b: bars}}, CheckRedirect: noRedirects}
		transport = &mcp.StreamableClientTransport{Endpoint: c.cfg.URL, HTTPClient: hc}
	default:
		return nil, nil, errors.New("upstream has neither a command nor a URL")
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// The session-based revision: in it an upstream may ask the caller
	// (sampling, elicitation) during a call and send notifications
	// unprompted, which the gateway relays.
	cs, err := client.Connect(cctx, transport, &mcp.ClientSessionOptions{ProtocolVersion: upstreamProtocol})
	if err != nil {
		bars.close()
		return nil, nil, fmt.Errorf("connect: %w", err)
	}
	return cs, bars, nil
}

// maxLeftOutNamed is how many of the tools a listing leaves out as not
// importable its warning names (with the count of all).
const maxLeftOutNamed = 5

// refreshTools lists c's tools, pins or withholds them in the store and
// rebuilds the catalogue.
func (u *upstreams) refreshTools(ctx context.Context, c *upConn) error {
	c.toolsMu.Lock()
	defer c.toolsMu.Unlock()
	c.mu.Lock()
	cs := c.session
	c.mu.Unlock()
	if cs == nil {
		return errors.New("not connected")
	}
	ts, err := listTools(ctx, cs)
	if err != nil {
		return err
	}
	defs := map[string]liveDef{}
	var (
		leftOut []string // "name: why" of the first few, each cut short
		// sums has a digest of each tool left out, and why: the set is
		// what the warning is given again for, not the order a listing
		// happens to give them in (an upstream's map or hash set).
		sums [][sha256.Size]byte
	)
	for _, t := range ts {
		raw, h, err := definitionHash(t)
		why := ""
		if err != nil {
			why = err.Error()
		} else {
			why = importable(t.Name, raw)
		}
		if why != "" {
			sums = append(sums, sha256.Sum256(fmt.Appendf(nil, "%q %q", t.Name, why)))
			if len(leftOut) < maxLeftOutNamed {
				// The name is not checked yet: as long as the upstream
				// likes, it is cut short here.
				shown, _ := clip.String(why, 128)
				leftOut = append(leftOut, fmt.Sprintf("%.64q: %s", t.Name, shown))
			}
			continue
		}
		defs[t.Name] = liveDef{tool: t, hash: h, raw: raw}
	}
	// One line for what this listing left out, and only when it is not
	// what the last one left out: an upstream of thousands of such tools,
	// relisted in a loop, would otherwise write thousands of lines a
	// listing.
	slices.SortFunc(sums, func(a, b [sha256.Size]byte) int { return bytes.Compare(a[:], b[:]) })
	digest := sha256.New()
	for _, d := range sums {
		digest.Write(d[:])
	}
	if sum := string(digest.Sum(nil)); len(sums) > 0 && sum != c.leftOut {
		u.g.logger().Warn("gateway: upstream tools not importable, left out", "upstream", c.cfg.Name,
			"count", len(sums), "tools", leftOut)
		c.leftOut = sum
	} else if len(sums) == 0 {
		c.leftOut = ""
	}
	c.mu.Lock()
	c.defs = defs
	c.mu.Unlock()
	wrote, taken, err := u.g.importTools(ctx, c.cfg.Name, defs)
	// The same for the tools not imported because their names are the
	// catalogue's tools of others (another upstream's, a built-in's), or
	// a catalogue tool's but for case: one line a set of them, naming a
	// few (taken is sorted).
	if sum := string(digestNames(taken)); len(taken) > 0 && sum != c.taken {
		u.g.logger().Warn("gateway: upstream tools not imported: the name is taken, or differs only in case from a tool the tenant has", "upstream", c.cfg.Name,
			"count", len(taken), "tools", taken[:min(len(taken), maxLeftOutNamed)])
		c.taken = sum
	} else if len(taken) == 0 {
		c.taken = ""
	}
	if err != nil {
		return err
	}
	if wrote {
		return u.g.Reload(ctx)
	}
	u.g.rebuild(nil)
	return nil
}

// Bounds of one listing of an upstream's tools, prompts, resources or
// resource templates: an upstream that pages without end, or lists without
// end, can neither hold the gateway nor fill its memory. Each listing is
// also bounded in bytes, and each definition (a tool, a prompt, a
// resource) in size.
var (
	maxListed       = 10_000
	listTimeout     = 30 * time.Second
	maxToolListed   = 32 << 20  // bytes of all tool definitions of one upstream (or prompts, or resources)
	maxToolDefBytes = 256 << 10 // bytes of one tool definition (or prompt, or resource)
)

// errTooManyListed: a listing passed maxListed.
var errTooManyListed = errors.New("the upstream lists more than the gateway takes")

// listTools lists cs's tools within the listing bounds. More than
// maxListed tools is an error: importing some of them would be arbitrary.
func listTools(ctx context.Context, cs *mcp.ClientSession) ([]*mcp.Tool, error) {
	ctx, cancel := context.WithTimeout(ctx, listTimeout)
	defer cancel()
	var out []*mcp.Tool
	size := 0
	for t, err := range cs.Tools(ctx, nil) {
		if err != nil {
			return nil, fmt.Errorf("list tools: %w", err)
		}
		if len(out) == maxListed {
			return nil, fmt.Errorf("list tools: %w (%d)", errTooManyListed, maxListed)
		}
		if b, err := json.Marshal(t); err == nil {
			size += len(b)
		}
		if size > maxToolListed {
			return nil, fmt.Errorf("list tools: %w (%d bytes)", errTooManyListed, maxToolListed)
		}
		out = append(out, t)
	}
	return out, nil
}

// importable says why an upstream's tool cannot enter the catalogue, or
// "": its name must be a tool name as the tenant file has them
// (store.IsToolName: no spaces, controls or look-alike characters in what
// people and policies name), and its definition at most maxToolDefBytes.
func importable(name string, def json.RawMessage) string {
	if !store.IsToolName(name) {
		return "the name is not 1 to 64 letters, digits, '_', '-' or '.'"
	}
	if len(def) > maxToolDefBytes {
		return fmt.Sprintf("the definition is larger than %d bytes", maxToolDefBytes)
	}
	return ""
}

// definitionHash returns the canonical JSON of a tool's definition as an
// upstream serves it, without _meta, and its SHA-256 (hex).
func definitionHash(t *mcp.Tool) (json.RawMessage, string, error) {
	d := *t
	d.Meta = nil
	b, err := json.Marshal(&d)
	if err != nil {
		return nil, "", err
	}
	c, err := slipverify.Canonical(b)
	if err != nil {
		return nil, "", err
	}
	return c, slipverify.Digest(c), nil
}

// digestNames is a digest of names, to tell one set of them from another.
func digestNames(names []string) []byte {
	d := sha256.New()
	for _, n := range names {
		fmt.Fprintf(d, "%q\n", n)
	}
	return d.Sum(nil)
}

func upstreamName(t store.Tool) string {
	if t.UpstreamTool != "" {
		return t.UpstreamTool
	}
	return t.Name
}

// importTools brings the store in line with an upstream's definitions and
// reports whether it changed anything, and, sorted, the tools it did not
// import because their names are taken by catalogue tools the upstream
// does not back (another upstream's, a built-in's, an HTTP API's), or
// are a catalogue tool's name but for case (store.Names.Free: to whoever
// reads them "Send_Email" and "send_email" are one name), the upstream's
// own other tools' too: of two such new names in one listing the first,
// sorted, is imported. A name the tenant declared is
// pinned on first sight only when no other name, nor the approval
// remembered for the upstream tool (rememberedApproval), holds it to
// another definition; the pin is remembered with it.
//
// Replicas sharing the store list an upstream at once, and their
// connections may serve different definitions (an upstream that changed
// between them, or one that serves each connection its own: a rug pull).
// So what the store holds is read first without a lock, which finds
// nothing to change in most listings, and what is to change is decided
// again and written in one transaction under the tenant's lock
// (store.Tenant.Lock), on the names and the remembered approval as they
// stand then (importLocked). A change decided on what was read before
// would be made on what another replica wrote meanwhile: a second first
// sight would pin its definition over the first one's, remember it as
// approved and withhold nothing, and a listing of the approved definition
// would make active again a tool another replica had just withheld.
func (g *Gateway) importTools(ctx context.Context, upstream string, defs map[string]liveDef) (_ bool, taken []string, _ error) {
	all, err := g.Store.Tools().List(ctx)
	if err != nil {
		return false, nil, fmt.Errorf("import %s tools: %w", upstream, err)
	}
	byName := map[string]store.Tool{}
	held := store.Names{} // the catalogue's names by their folded form
	for _, t := range all {
		byName[t.Name] = t
		held.Add("tool", t.Name)
	}
	log := g.logger().With("upstream", upstream)
	wrote := false
	names := make([]string, 0, len(defs))
	for n := range defs {
		names = append(names, n)
	}
	slices.Sort(names)
	var changing []string // upstream tools whose names change, decided again under the lock
	// The catalogue names of the upstream's tools are bounded as one
	// listing is (maxListed): an upstream that offers new names without
	// end, a few at a time, would otherwise grow the catalogue, and every
	// reload of every replica, without end. Past the bound a new name is
	// not imported (it is neither listed nor callable).
	rows, unimported := 0, 0
	for _, t := range all {
		if t.Upstream == upstream {
			rows++
		}
	}
	defer func() {
		if unimported > 0 {
			log.Warn("gateway: the upstream offers more tools than the gateway keeps for it; the new ones past the bound are not imported",
				"not_imported", unimported, "max", maxListed)
		}
	}()
	for _, n := range names {
		def := defs[n]
		matches := namesOf(all, upstream, n)
		if len(matches) == 0 {
			if _, ok := byName[n]; ok || held.Free("tool", n) != nil {
				taken = append(taken, n)
				continue
			}
			if rows >= maxListed {
				unimported++
				continue
			}
			// No description or schema of its own: those of the
			// definition an admin approves are served (a copy of the one
			// first seen would outlive a change the admin approved, and
			// show text nobody approved).
			t := store.Tool{Name: n, Upstream: upstream, Status: store.ToolPending,
				PendingHash: def.hash, PendingDefinition: def.raw}
			// The name is decided again under the tenant's lock: a tool
			// of it but for case made since the catalogue was read
			// (another replica's import of another upstream's, an
			// admin's) refuses it as it refuses an admin's add.
			err := g.auditedTx(ctx, func(tx store.Tenant) ([]audit.Event, error) {
				if err := tx.Lock(ctx); err != nil {
					return nil, err
				}
				if err := store.NameFree(ctx, tx, "tool", n); err != nil {
					return nil, err
				}
				if err := tx.Tools().Create(ctx, t); err != nil {
					return nil, err
				}
				return []audit.Event{importEvent(audit.ToolImported, t.Name, upstream, "", def.hash)}, nil
			})
			switch {
			case err == nil:
				wrote = true
				rows++
				held.Add("tool", n)
				log.Info("gateway: upstream tool imported, pending approval", "tool", n)
			case errors.Is(err, store.ErrNameTaken):
				taken = append(taken, n)
			case !errors.Is(err, store.ErrConflict):
				return wrote, taken, fmt.Errorf("import %s: %w", n, err)
			}
			continue
		}
		mem, err := rememberedApproval(ctx, g.Store, upstream, n)
		if err != nil {
			return wrote, taken, fmt.Errorf("import %s: %w", n, err)
		}
		if p := planImport(matches, mem, def); p.remember != nil || len(p.changes) > 0 {
			changing = append(changing, n)
		}
	}
	if len(changing) == 0 {
		return wrote, taken, nil
	}
	changed := false
	err = g.auditedTx(ctx, func(tx store.Tenant) ([]audit.Event, error) {
		// The lock first, then the rows, as Approve and config apply
		// take them: a writer holding a row this one waits for, while it
		// waits for the lock, would be a deadlock.
		if err := tx.Lock(ctx); err != nil {
			return nil, fmt.Errorf("import %s tools: %w", upstream, err)
		}
		all, err := tx.Tools().List(ctx)
		if err != nil {
			return nil, fmt.Errorf("import %s tools: %w", upstream, err)
		}
		changed = false
		var events []audit.Event
		for _, n := range changing {
			c, withheld, err := importLocked(ctx, tx, log, upstream, n, defs[n], namesOf(all, upstream, n))
			if err != nil {
				return nil, err
			}
			changed = changed || c
			for _, t := range withheld {
				events = append(events, importEvent(audit.ToolWithheld, t.Name, upstream, t.PinnedHash, t.PendingHash))
			}
		}
		return events, nil
	})
	if err != nil {
		return wrote, taken, err
	}
	return wrote || changed, taken, nil
}

// namesOf returns the catalogue names of upstream's tool n among all.
func namesOf(all []store.Tool, upstream, n string) []store.Tool {
	var matches []store.Tool
	for _, t := range all {
		if t.Upstream == upstream && upstreamName(t) == n {
			matches = append(matches, t)
		}
	}
	return matches
}

// importLocked decides and makes, in tx holding the tenant's lock, what
// importing def changes of matches, the catalogue names of upstream's
// tool n as read under the lock, and of the approval remembered for it:
// nothing another replica writes can come between what it reads and what
// it writes. It reports whether it changed a name, and returns those it
// withheld as changed (for the audit trail, once tx is committed).
func importLocked(ctx context.Context, tx store.Tenant, log *slog.Logger, upstream, n string, def liveDef, matches []store.Tool) (bool, []store.Tool, error) {
	if len(matches) == 0 {
		// Removed since it was read: nothing to pin. The next listing
		// imports it anew if the upstream still serves it.
		return false, nil, nil
	}
	mem, err := rememberedApproval(ctx, tx, upstream, n)
	if err != nil {
		return false, nil, fmt.Errorf("import %s: %w", n, err)
	}
	p := planImport(matches, mem, def)
	if p.remember != nil {
		if err := rememberApproval(ctx, tx, upstream, n, p.remember.Hash, p.remember.Definition); err != nil {
			return false, nil, err
		}
		mem = *p.remember
	}
	changed := false
	var withheld []store.Tool
	for _, c := range p.changes {
		if c.warn != "" {
			log.Warn(c.warn, "tool", c.name, "pending_hash", def.hash)
		}
		// Under the lock, old is the row the plan was made on.
		var before, after store.Tool
		err := tx.Tools().Update(ctx, c.name, func(old store.Tool) (store.Tool, error) {
			before, after = old, c.apply(old)
			return after, nil
		})
		if errors.Is(err, store.ErrNotFound) {
			changed = true
			continue
		}
		if err != nil {
			return changed, nil, fmt.Errorf("pin %s: %w", c.name, err)
		}
		changed = true
		if after.Status == store.ToolPending && after.PendingHash != before.PendingHash {
			withheld = append(withheld, after)
		}
		if after.Status != store.ToolActive || after.PinnedHash == before.PinnedHash || after.PinnedHash == mem.Hash {
			continue
		}
		// Pinned on first sight: approved, remembered with the pin.
		if err := rememberApproval(ctx, tx, upstream, n, after.PinnedHash, after.PinnedDefinition); err != nil {
			return changed, nil, err
		}
		mem = approvedDef{Hash: after.PinnedHash, Definition: after.PinnedDefinition}
	}
	return changed, withheld, nil
}

// importPlan is what importing an upstream tool's definition changes: the
// approval to remember first (pinned under a name before approvals were
// remembered apart from names), if any, and the changes of its names.
type importPlan struct {
	remember *approvedDef
	changes  []nameChange
}

// nameChange is the change of one catalogue name: apply makes it, and
// warn, when set, says why the name is withheld.
type nameChange struct {
	name  string
	warn  string
	apply func(store.Tool) store.Tool
}

// planImport decides what importing def changes of matches, the catalogue
// names of one upstream tool, given mem, the approval remembered for it.
// It only decides: importTools plans on what it read without a lock, to
// find whether anything is to change, and importLocked again, under the
// lock, on what it then makes the changes to.
func planImport(matches []store.Tool, mem approvedDef, def liveDef) importPlan {
	var p importPlan
	approved, held := approvedFor(matches, def.hash)
	switch {
	case mem.Hash == "" && approved.PinnedHash != "":
		// Pinned before approvals were remembered apart from names.
		p.remember = &approvedDef{Hash: approved.PinnedHash, Definition: approved.PinnedDefinition}
	case mem.Hash != "" && (approved.PinnedHash == "" || mem.Hash == def.hash && approved.PinnedHash != def.hash):
		// No name pins what is served, but it was approved under a
		// name since removed; or no name pins the tool at all (its
		// names were removed, or one awaits approval as imported),
		// and what was approved is remembered: a new name is held to
		// it as to another name's pin.
		approved, held = store.Tool{PinnedHash: mem.Hash, PinnedDefinition: mem.Definition}, true
	}
	for _, t := range matches {
		c := nameChange{name: t.Name}
		switch {
		case t.PinnedHash == "" && t.Status != store.ToolPending && held && approved.PinnedHash != def.hash:
			// Declared by the tenant, never seen, but another of its
			// names holds the tool withheld or pinned to another
			// definition, or another was approved before under a
			// name since removed: a second name (or a renamed one)
			// must not approve what the first one withholds, nor a
			// name declared after removing it. Withheld as a change
			// of the definition approved under the other name.
			c.warn = "gateway: upstream tool is withheld, or approved with another definition, under another name; withheld until an admin approves it"
			c.apply = func(t store.Tool) store.Tool {
				t.PinnedHash, t.PinnedDefinition = approved.PinnedHash, approved.PinnedDefinition
				t.Status, t.PendingHash, t.PendingDefinition = store.ToolPending, def.hash, def.raw
				return t
			}
		case t.PinnedHash == "" && t.Status != store.ToolPending:
			// Declared by the tenant, never seen: pin what is served.
			c.apply = func(t store.Tool) store.Tool {
				t.PinnedHash, t.PinnedDefinition, t.Status = def.hash, def.raw, store.ToolActive
				return clearPending(t)
			}
		case t.PinnedHash == def.hash && t.Status == store.ToolPending:
			// Back to the approved definition.
			c.apply = func(t store.Tool) store.Tool { t.Status = store.ToolActive; return clearPending(t) }
		case t.PinnedHash != "" && t.PinnedHash != def.hash && t.Status != store.ToolPending:
			c.warn = "gateway: upstream tool definition changed; withheld until an admin approves it"
			c.apply = func(t store.Tool) store.Tool {
				t.Status, t.PendingHash, t.PendingDefinition = store.ToolPending, def.hash, def.raw
				return t
			}
		case t.Status == store.ToolPending && t.PinnedHash != def.hash && t.PendingHash != def.hash:
			// Changed again while awaiting approval (or pending from
			// before definitions were kept): the admin reviews the
			// latest.
			c.warn = "gateway: withheld upstream tool definition changed again"
			c.apply = func(t store.Tool) store.Tool { t.PendingHash, t.PendingDefinition = def.hash, def.raw; return t }
		case t.PinnedHash == def.hash && len(t.PinnedDefinition) == 0:
			// Pinned before definitions were kept: what is served has
			// the approved hash, so it is the approved definition.
			c.apply = func(t store.Tool) store.Tool { t.PinnedDefinition = def.raw; return t }
		}
		if c.apply != nil {
			p.changes = append(p.changes, c)
		}
	}
	return p
}

// approvedFor returns, among the catalogue names of one upstream tool, the
// entry whose pin is the approved definition: the one pinned to served if
// any, else one pinned to another definition (a zero entry when none is
// pinned). held reports whether any name pins the tool or holds it pending:
// if none does, nothing was approved or withheld for it yet.
func approvedFor(names []store.Tool, served string) (approved store.Tool, held bool) {
	for _, t := range names {
		if t.PinnedHash == "" {
			held = held || t.Status == store.ToolPending
			continue
		}
		held = true
		if approved.PinnedHash == "" || t.PinnedHash == served {
			approved = t
		}
	}
	return approved, held
}

// importEvent is the record that an upstream's tool awaits an admin's
// approval: new (ToolImported) or changed (ToolWithheld, with the hash of
// the approved definition it no longer serves).
func importEvent(typ, tool, upstream, pinned, pending string) audit.Event {
	detail := map[string]any{"upstream": upstream, "pending_hash": pending}
	if pinned != "" {
		detail["pinned_hash"] = pinned
	}
	return audit.Event{Type: typ, Tool: tool, Status: store.ToolPending, Detail: detail}
}

// clearPending forgets the definition that awaited approval.
func clearPending(t store.Tool) store.Tool {
	t.PendingHash, t.PendingDefinition = "", nil
	return t
}

// UpstreamStatus describes one upstream for operators.
type UpstreamStatus struct {
	Name      string
	Connected bool
	Restarts  int
	LastError string
	Tools     []string // the upstream's tool names, as it serves them
	Lanes     int      // callers' own sessions, open or opening (lanes.go)
	// Withheld counts what of the upstream awaits an admin's approval:
	// its tools pending in the store (new, or changed since approved),
	// and the prompts and resource templates it serves this replica
	// other than as approved (featurepins.go).
	Withheld int
}

// Upstreams reports the state of every upstream on this replica.
func (g *Gateway) Upstreams() []UpstreamStatus {
	if g.init() != nil {
		return nil
	}
	cat := g.catalogue()
	pending := map[string]int{}
	if cat != nil {
		for _, e := range cat.tools {
			if e.tool.Upstream != "" && e.tool.Status == store.ToolPending {
				pending[e.tool.Upstream]++
			}
		}
	}
	g.ups.mu.Lock()
	defer g.ups.mu.Unlock()
	var out []UpstreamStatus
	for name, c := range g.ups.conns {
		c.mu.Lock()
		s := UpstreamStatus{Name: name, Connected: c.session != nil, Restarts: c.restarts, LastError: c.lastErr, Lanes: len(c.byCaller),
			Withheld: pending[name]}
		for n := range c.defs {
			s.Tools = append(s.Tools, n)
		}
		for key := range c.features.defs {
			if !cat.servable(c, c.features, key) {
				s.Withheld++
			}
		}
		c.mu.Unlock()
		slices.Sort(s.Tools)
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b UpstreamStatus) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// scrub returns err with c's URL, where its text quotes it (the HTTP
// client's errors do, query included), redacted as store.RedactURL does,
// and the session IDs the upstream sent taken out (scrubKnown): such
// errors go to logs, the upstream's status and the audit trail (each
// through shownErr, which takes out more), and a URL may carry a
// credential, a session ID stands for the gateway's session with the
// upstream (upstreamerr.go). The error chain is kept; an upstream's
// JSON-RPC error in it is found cleaned (scrubbed.As).
func (c *upConn) scrub(err error) error {
	if err == nil {
		return nil
	}
	msg := c.scrubText(err.Error())
	if msg == err.Error() {
		return err
	}
	return scrubbed{msg: msg, err: err, clean: c.scrubText}
}

// scrubText is msg, the text of an error of c's, as scrub leaves it.
func (c *upConn) scrubText(msg string) string {
	if raw := c.cfg.URL; raw != "" {
		if clean := store.RedactURL(raw); clean != raw {
			msg = strings.ReplaceAll(msg, raw, clean)
			if u, perr := url.Parse(raw); perr == nil {
				// net/http quotes the URL as Go writes it back, which is not
				// always as the tenant wrote it (the scheme in lower case, a
				// non-ASCII path percent-encoded), with its password masked as
				// ***, and the query as it is.
				msg = strings.ReplaceAll(msg, u.String(), clean)
				if _, ok := u.User.Password(); ok {
					masked := strings.Replace(u.String(), u.User.String()+"@", u.User.Username()+":***@", 1)
					msg = strings.ReplaceAll(msg, masked, clean)
				}
			}
		}
	}
	return scrubKnown(msg, c.sessions.all())
}

// maxLoggedErr bounds the text of an upstream's error as the log and the
// upstream's status keep it: the text is the upstream's own (a JSON-RPC
// error's message, up to an answer's 16 MiB), written at every restart.
const maxLoggedErr = 2 << 10

// logErr is err scrubbed (scrub) and cut short at maxLoggedErr bytes
// (shownErr), for the log and the upstream's status; "" for nil.
func (c *upConn) logErr(err error) string {
	if err == nil {
		return ""
	}
	s, _ := shownErr(c.scrub(err).Error())
	return s
}

// progressKey is a progress token on an upstream session: what a
// progress notification the upstream sends is routed by.
type progressKey struct {
	session *mcp.ClientSession
	token   string
}

// beginListing notes a listing of c's tools under way until the returned
// function is called.
func (c *upConn) beginListing() (done func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.listing == 0 {
		c.listed = make(chan struct{})
	}
	c.listing++
	return sync.OnceFunc(func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.listing--; c.listing == 0 {
			close(c.listed)
			c.listed = nil
		}
	})
}

// awaitListing waits for a listing of c's tools under way, if any.
func (c *upConn) awaitListing(ctx context.Context) error {
	c.mu.Lock()
	wait := c.listed
	c.mu.Unlock()
	if wait == nil {
		return nil
	}
	select {
	case <-wait:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// checkServed waits for any listing of c's tools under way, then checks
// that c serves tool with the definition pinned for it: the catalogue
// allowed the call on what was listed before, and an upstream that
// restarted, reconnected or said its tools changed may serve something
// else until listed again.
func (c *upConn) checkServed(ctx context.Context, tool store.Tool) error {
	if err := c.awaitListing(ctx); err != nil {
		return err
	}
	c.mu.Lock()
	d, ok := c.defs[upstreamName(tool)]
	c.mu.Unlock()
	return c.servedAs(ctx, tool, d, ok)
}

// servedAs is checkServed's verdict on the definition d of tool that c
// lists (ok: it lists one), once no listing is under way.
func (c *upConn) servedAs(ctx context.Context, tool store.Tool, d liveDef, ok bool) error {
	switch {
	case !ok:
		return fmt.Errorf("upstream %s does not serve %s now", tool.Upstream, upstreamName(tool))
	case tool.PinnedHash == "":
		// Declared, and not pinned yet when the catalogue the call was
		// decided on was built: the listing just awaited pinned it (on
		// first sight) or withheld it (another name's approval differs).
		// The store says which; the call runs only what is pinned.
		var cur store.Tool
		err := errors.New("no definition of it is approved yet")
		if c.current != nil {
			cur, err = c.current(ctx, tool.Name)
		}
		switch {
		case err != nil, cur.Status == store.ToolPending, cur.PinnedHash == "", cur.Upstream != tool.Upstream, upstreamName(cur) != upstreamName(tool):
			return fmt.Errorf("upstream %s: no definition of %s is approved yet", tool.Upstream, upstreamName(tool))
		case d.hash != cur.PinnedHash:
			return fmt.Errorf("upstream %s now serves another definition of %s than the approved one (withheld until an admin approves it)", tool.Upstream, upstreamName(tool))
		}
	case d.hash != tool.PinnedHash:
		return fmt.Errorf("upstream %s now serves another definition of %s than the approved one (withheld until an admin approves it)", tool.Upstream, upstreamName(tool))
	}
	return nil
}

// Call implements tools.Backend for upstream tools. Upstream MCP servers
// know no slips, so the executor verifies and redeems the slip here before
// the call goes out; the caller's access token never does.
func (u *upstreams) Call(ctx context.Context, token string, call tools.Call) (*mcp.CallToolResult, error) {
	return u.call(ctx, token, call, nil)
}

// unavailable says why a call of tool, an upstream tool the catalogue
// has no definition of (its upstream has not listed it since the
// catalogue was built), cannot be served now: its upstream is not
// connected, or connected and not listing it. It is "" when the call may
// yet be served, and so is left to reserve: a listing of the upstream's
// tools is under way (the call waits for it), or the upstream lists the
// tool (listed since the catalogue was built: checkServed decides).
func (u *upstreams) unavailable(tool store.Tool) string {
	c := u.conn(tool.Upstream)
	if c == nil {
		return "upstream " + tool.Upstream + " is not running on this replica"
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	_, lists := c.defs[upstreamName(tool)]
	switch {
	case c.listed != nil:
		return ""
	case c.session == nil && c.defs == nil:
		return fmt.Sprintf("upstream %s has not been reachable since the gateway started it, so its definition of %s is not known", tool.Upstream, upstreamName(tool))
	case c.session == nil:
		return fmt.Sprintf("upstream %s is not connected (reconnecting), and did not list %s when it last was", tool.Upstream, upstreamName(tool))
	case !lists:
		return fmt.Sprintf("upstream %s is connected but does not list %s", tool.Upstream, upstreamName(tool))
	}
	return ""
}

// reserve checks that tool's upstream serves it as pinned (served), then
// takes the upConn a call of it by caller will go through (laneFor), held
// until release is called; on is nil when the tool's upstream is not
// configured. A per_caller upstream's call that cannot have a lane gets a
// *laneError; any other error is the call's (a *tools.TimeoutError when
// the caller's lane did not open within the call's bound).
func (u *upstreams) reserve(ctx context.Context, tool store.Tool, caller string) (on *upConn, release func(), err error) {
	c := u.conn(tool.Upstream)
	if c == nil {
		return nil, noRelease, nil
	}
	if err := c.served(ctx, tool); err != nil {
		return nil, noRelease, err
	}
	on, release, err = u.laneFor(ctx, c, caller)
	return on, release, lateLane(c, err, tool.Name)
}

// served is checkServed within c's call bound: waiting for the upstream's
// tools to be listed counts against it, so an upstream stuck after its
// handshake does not hold the caller longer than the call itself could.
func (c *upConn) served(ctx context.Context, tool store.Tool) error {
	if tool.PinnedHash != "" {
		// No listing under way, and a pinned tool asks the store
		// nothing: the check cannot wait, and needs no bound (whose
		// context and timer every call paid for).
		c.mu.Lock()
		idle := c.listed == nil
		d, ok := c.defs[upstreamName(tool)]
		c.mu.Unlock()
		if idle {
			return c.servedAs(ctx, tool, d, ok)
		}
	}
	limit := c.callLimit()
	sctx, cancel := context.WithTimeoutCause(ctx, limit, errCallTimeout)
	err := c.checkServed(sctx, tool)
	cancel()
	if err != nil && ctx.Err() == nil && context.Cause(sctx) == errCallTimeout {
		return &tools.TimeoutError{Tool: tool.Name, After: limit}
	}
	return err
}

// call runs call on on, the upConn reserve took for it; when on is nil,
// it checks the tool is served and runs it on the one laneFor gives.
func (u *upstreams) call(ctx context.Context, token string, call tools.Call, on *upConn) (*mcp.CallToolResult, error) {
	c := u.conn(call.Tool.Upstream)
	var (
		cs    *mcp.ClientSession
		bars  *barriers
		limit = defaultCallTimeout
	)
	if c != nil {
		limit = c.callLimit()
		// The caller's own session when it can have one, so that what
		// the upstream says during the call is known to be for it (its
		// tools are those of c's: see sameTools).
		if on == nil {
			if err := c.served(ctx, call.Tool); err != nil {
				return nil, err
			}
			l, release, err := u.laneFor(ctx, c, call.Caller)
			if err != nil {
				return nil, lateLane(c, err, call.Tool.Name)
			}
			defer release()
			on = l
		}
		c = on
		c.mu.Lock()
		cs, bars = c.session, c.barriers
		c.mu.Unlock()
	}
	if cs == nil {
		return nil, fmt.Errorf("upstream %s is not connected", call.Tool.Upstream)
	}
	// Queued: the gateway's durable tool.result covers the redemption's
	// record; single use is decided in the store all the same.
	if _, err := u.g.Slips.RedeemQueued(ctx, token, call.Tool.Name, call.Args); err != nil {
		return nil, err
	}
	// The call's own bound: past it the SDK cancels the request upstream
	// (notifications/cancelled) and the caller is told. The caller's
	// context stays the one messages are relayed in.
	callCtx, cancel := context.WithTimeoutCause(ctx, limit, errCallTimeout)
	defer cancel()
	params := &mcp.CallToolParams{Name: upstreamName(call.Tool), Arguments: json.RawMessage(call.Args)}
	f, tagged, done := c.track(ctx, callCtx, call.Session, call.Caller, relays{ask: call.Ask, log: call.Log})
	// A caller that stopped waiting, or a call past its bound, leaves the
	// call abandoned, whatever the upstream does next.
	defer func() { done(callCtx.Err() != nil) }()
	if call.Progress != nil {
		relay := call.Progress
		log := u.g.logger().With("upstream", c.cfg.Name, "tool", call.Tool.Name)
		forward := func(ctx context.Context, p *mcp.ProgressNotificationParams) {
			if f.relay(log) {
				relay(ctx, p)
			}
		}
		// The upstream sees a token of the gateway's, new for this call,
		// never the caller's: callers share upstream sessions and pick
		// their tokens freely (clients count from 0), so progress an
		// upstream sends late for an abandoned call would otherwise reach
		// whoever uses that token next. A late notification under this
		// token finds no one.
		pt := slip.NewID()
		key := progressKey{cs, pt}
		u.progress.Store(key, forward)
		params.Meta = mcp.Meta{"progressToken": pt}
		defer u.progress.Delete(key)
	}
	res, err := cs.CallTool(tagged, params)
	if err != nil && ctx.Err() == nil && context.Cause(callCtx) == errCallTimeout {
		return nil, &sentError{&tools.TimeoutError{Tool: call.Tool.Name, After: limit}}
	}
	err = c.scrub(err)
	if rpc := (*jsonrpc.Error)(nil); err != nil && (!errors.As(err, &rpc) || localRPCError(rpc)) {
		// No answer of the upstream's: it had the call, and may have
		// acted on it (an upstream's own error is its answer).
		err = &sentError{err}
	}
	// What the upstream sent before its result may still be queued in
	// the client (see barrier.go): relay it before the result closes the
	// caller's stream.
	bars.wait(callCtx)
	return res, err
}

// sentError is a call that failed after its request was handed to the
// upstream, with no answer of the upstream's: it may have acted. The
// caller is told so, never to try again (finish).
type sentError struct{ err error }

func (e *sentError) Error() string { return e.err.Error() }
func (e *sentError) Unwrap() error { return e.err }

// callLimit is how long one request to c may take: its call_timeout, or
// defaultCallTimeout.
func (c *upConn) callLimit() time.Duration {
	if d := time.Duration(c.callTimeout.Load()); d > 0 {
		return d
	}
	return defaultCallTimeout
}

// defaultCallTimeout bounds a call to an upstream that sets no
// call_timeout: long enough for tools that report progress over minutes,
// short enough that a hung one does not hold its caller and the trail's
// record of the call open for ever.
const defaultCallTimeout = 5 * time.Minute

// errCallTimeout is the cause of a call's context past its bound.
var errCallTimeout = errors.New("the upstream did not answer in time")

// upstreamHTTP is the client of Streamable HTTP upstreams: many calls run
// at once on one session, so it keeps more connections alive than the
// default client. It sends no credentials of its own, and follows no
// redirect (noRedirects).
var upstreamHTTP = func() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	return &http.Client{Transport: t, CheckRedirect: noRedirects}
}()

// noRedirects keeps the gateway from following an upstream's redirect: the
// upstream's URL is the tenant's choice, and a redirect would carry the
// gateway's credentials (its headers_env) and the call's arguments to
// wherever the upstream points, another host or an internal address. The
// redirect answer itself reaches the SDK, which fails the request.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// upstreamClient is the HTTP client for the Streamable HTTP upstream u:
// upstreamHTTP, plus the gateway's own credentials for u (its HeadersEnv,
// read from the environment through lookup now). A variable that is not
// set, or empty, is an error naming the header it is for (and which of
// the two); neither the variable's value nor its name appears in an
// error or log (a secret stored as a name, before CheckUpstreamEnv
// refused such names, would otherwise show on every reconnect).
func upstreamClient(u store.Upstream, lookup func(string) (string, bool)) (*http.Client, error) {
	if len(u.HeadersEnv) == 0 {
		return upstreamHTTP, nil
	}
	h := make(http.Header, len(u.HeadersEnv))
	for name, env := range u.HeadersEnv {
		if msg := store.CheckUpstreamHeader(name); msg != "" {
			// Not repeated: what stands where a name belongs may be a
			// pasted credential (stored before apply refused such keys).
			return nil, fmt.Errorf("a headers_env key %s", msg)
		}
		if msg := store.CheckStoredUpstreamEnv(env); msg != "" {
			return nil, fmt.Errorf("headers_env.%s: %s", name, msg)
		}
		if _, twice := h[http.CanonicalHeaderKey(name)]; twice {
			// Keys differing in case only (the tenant file refuses them):
			// which value went out would be the map's chance.
			return nil, fmt.Errorf("headers_env names the %s header twice (header names ignore case)", http.CanonicalHeaderKey(name))
		}
		v, ok := lookup(env)
		if !ok {
			return nil, fmt.Errorf("the environment variable for the %s header (headers_env) is not set", name)
		}
		if v == "" {
			return nil, fmt.Errorf("the environment variable for the %s header (headers_env) is empty", name)
		}
		if strings.ContainsAny(v, "\r\n\x00") {
			return nil, fmt.Errorf("the environment variable for the %s header (headers_env) holds a line break", name)
		}
		h.Set(name, v)
	}
	return &http.Client{Transport: withHeaders{h: h, base: upstreamHTTP.Transport}, CheckRedirect: noRedirects}, nil
}

// withHeaders sets fixed headers on every request.
type withHeaders struct {
	h    http.Header
	base http.RoundTripper
}

func (w withHeaders) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range w.h {
		r.Header[k] = v
	}
	return w.base.RoundTrip(r)
}

// upstreamBaseEnv are the variables of the gateway's environment every
// stdio upstream gets: what a program needs to run (find programs, a home,
// its user, locale, time zone, temporary files, TLS roots) and nothing that
// usually holds a secret. The LC_ locale variables go along too.
var upstreamBaseEnv = []string{"PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TMPDIR",
	"SSL_CERT_FILE", "SSL_CERT_DIR"}

// upstreamEnv is the environment of stdio upstream u's processes:
// upstreamBaseEnv and the LC_ variables where the gateway has them, and
// the variables u.Env names, each of which must be set (the error gives
// the position in env of the one that is not, never its name or value:
// a secret may have been stored as a name). Nothing else of the gateway's
// environment (cloud credentials, database URLs, its own settings) is
// passed to a third party's program; nor can the program read it from
// /proc on Linux (makeUndumpable). It still runs as the gateway's user,
// who can open the gateway's files: isolation from them takes a command
// that runs the program as another user.
func upstreamEnv(u store.Upstream, environ []string, lookup func(string) (string, bool)) ([]string, error) {
	var env []string
	for _, name := range upstreamBaseEnv {
		if v, ok := lookup(name); ok {
			env = append(env, name+"="+v)
		}
	}
	for _, kv := range environ {
		if strings.HasPrefix(kv, "LC_") {
			env = append(env, kv)
		}
	}
	for i, name := range u.Env {
		if msg := store.CheckStoredUpstreamEnv(name); msg != "" {
			return nil, fmt.Errorf("env[%d]: %s", i, msg)
		}
		v, ok := lookup(name)
		if !ok {
			return nil, fmt.Errorf("env[%d]: the environment variable is not set", i)
		}
		env = append(env, name+"="+v)
	}
	return env, nil
}

// Bounds of what of a stdio upstream's stderr reaches the log: a third
// party's program chooses how much it writes there, and how fast.
const (
	// maxStderrLine is how much of one line is logged; the rest is cut.
	maxStderrLine = 1 << 10
	// maxStderrLines is how many lines are logged a stderrWindow; those
	// past it are counted, and the count logged with the next line logged.
	maxStderrLines = 100
	stderrWindow   = time.Second
)

// logWriter passes an upstream's stderr to the log (at debug): a record
// a line, each cut short at maxStderrLine, at most maxStderrLines of them
// a stderrWindow, with what a terminal or log viewer would act on escaped
// (visible). A line the program wrote in more than one piece may be
// logged as more than one. Not safe for concurrent use: os/exec writes
// to it from one goroutine. The lines of its stdout that are no JSON-RPC
// message are logged the same way, at warn (newStrayLog, stdiolines.go).
type logWriter struct {
	log   *slog.Logger
	level slog.Level
	msg   string
	now   func() time.Time

	window time.Time // when the current window began
	logged int       // lines logged in it
	left   int       // lines left out since the last one logged
}

func newLogWriter(log *slog.Logger) *logWriter {
	return &logWriter{log: log, level: slog.LevelDebug, msg: "gateway: upstream stderr", now: time.Now}
}

// newStrayLog logs the lines of a stdio upstream's stdout that are no
// JSON-RPC message, which stdioLines skips.
func newStrayLog(log *slog.Logger) *logWriter {
	return &logWriter{log: log, level: slog.LevelWarn, msg: "gateway: upstream wrote a line on stdout that is no JSON-RPC message; skipped", now: time.Now}
}

func (w *logWriter) Write(p []byte) (int, error) {
	if !w.log.Enabled(context.Background(), w.level) {
		return len(p), nil // no work for what no one will read
	}
	for rest := p; len(rest) > 0; {
		line := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i], rest[i+1:]
		} else {
			rest = nil
		}
		w.line(bytes.TrimSuffix(line, []byte("\r")))
	}
	return len(p), nil
}

// line logs one line, if the window has room for it.
func (w *logWriter) line(b []byte) {
	if now := w.now(); now.Sub(w.window) >= stderrWindow {
		w.window, w.logged = now, 0
	}
	if w.logged >= maxStderrLines {
		w.left++
		return
	}
	w.logged++
	text, _ := clip.String(string(b[:min(len(b), maxStderrLine+utf8.UTFMax)]), maxStderrLine)
	args := []any{"text", visible(text)}
	if w.left > 0 {
		args, w.left = append(args, "left_out", w.left), 0
	}
	w.log.Log(context.Background(), w.level, w.msg, args...)
}

// visible returns s with DEL, the C1 controls (U+009B is CSI, an ANSI
// escape on its own) and format characters (bidirectional overrides,
// zero-width characters) written as \u escapes: slog's JSON handler
// escapes the C0 controls (ESC, CR, LF) but writes these as they are, and
// a third party's program chooses what it writes to its stderr.
func visible(s string) string {
	return store.EscapeRunes(s, func(r rune) bool { return r == 0x7f || (r >= 0x80 && r <= 0x9f) || unicode.Is(unicode.Cf, r) })
}
