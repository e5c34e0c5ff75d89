package gateway

//lint:file-ignore SA1019 sampling and logging are deprecated from protocol revision 2026-07-28 on; upstreams on earlier revisions still use them, and the gateway carries them to callers on any revision.

// Design note: what an upstream asks during a call, for a caller on
// 2026-07-28.
//
// From protocol revision 2026-07-28 on, a server asks its client nothing
// while a request runs: a tool that needs the person's answer (an
// elicitation) or the caller's model (sampling) returns an "input
// required" result naming what it asks, and the client calls the tool
// again with the answers and the request state it was given (multi
// round-trip requests). The gateway speaks to its upstreams on sessions of
// an earlier revision, where the upstream asks in the middle of its call
// and waits. So a call of such a caller runs as a flight: the upstream's
// call goes on in the background, the first thing it asks ends the
// caller's request with an input-required result, and the caller's retry,
// carrying the flight's ID as its request state, brings the answers to
// the waiting upstream and waits for the call again.
//
// A retry is no new call: its slip was spent at the allow, which is not
// repeated. It is decided again all the same (the person's roles, the
// agent's cap, the token's scope), must come from the same caller for the
// same tool with the same arguments, and is recorded (tool.input) before
// its answers reach the upstream. A flight lives on one replica, in
// memory: a retry that reaches another one (or comes after the call
// ended and its outcome was dropped) is refused, recorded as a deny of
// policy request-state, and the caller is told to call again. The call's
// own bound (call_timeout) bounds the flight, a caller that never comes
// back included.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/clip"
	"github.com/gatehouse/gatehouse/internal/policy"
	"github.com/gatehouse/gatehouse/internal/slip"
	"github.com/gatehouse/gatehouse/slipverify"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// askFunc puts what an upstream asks to its caller and returns the
// answer (tools.Call.Ask, flight.ask).
type askFunc = func(context.Context, mcp.InputRequest) (mcp.InputResponse, error)

// relays take what an upstream sends during a request in place of the
// request's session (the zero value: none does): for a flight, its
// questions (ask) and log messages (log), which go to whichever request
// of the caller waits on it.
type relays struct {
	ask askFunc
	log func(*mcp.LoggingMessageParams)
}

// relays are fl's.
func (fl *flight) relays() relays { return relays{ask: fl.ask, log: fl.relayLog} }

// PolicyRequestState: a retry (tools/call, prompts/get, resources/read)
// whose request state names no request of this caller waiting for input.
const PolicyRequestState = "request-state"

// flightLinger is how long a flight's outcome waits for a retry to fetch
// it once the call ended while nobody waited.
const flightLinger = time.Minute

// holds are what a call holds while it runs (its slot, its lane).
type holds []func()

func (h *holds) add(f func()) { *h = append(*h, f) }

// release lets go of what is still held.
func (h *holds) release() {
	for _, f := range *h {
		f()
	}
	*h = nil
}

// take hands what is held to the caller of take, who releases it.
func (h *holds) take() func() {
	taken := *h
	*h = nil
	return taken.release
}

// flight is a call of a caller that takes input on retries (takesInput),
// running on after its request ended.
type flight struct {
	id          string // the request state
	owner       string // caller.key
	method      string // tools/call, prompts/get or resources/read
	key         string // the tool's or prompt's name, the resource's URI
	upstream    string // the upstream it runs on
	digest      string // of the arguments
	correlation string
	slipID      string
	caps        *mcp.ClientCapabilities // what the caller said it answers; nil: unknown

	ctx    context.Context // ends with the call; cancel abandons it
	cancel context.CancelFunc
	asks   chan *inputAsk // what the upstream asks, to the waiting request
	done   chan struct{}  // closed when res and err are set
	res    mcp.Result
	err    error
	// waiting is the request waiting on the flight, if one is: where the
	// upstream's log messages go now, and its progress if the request
	// gave a progress token.
	waiting atomic.Pointer[waiter]

	table *sync.Map // Gateway.flights

	mu      sync.Mutex
	pending map[string]*inputAsk // asked of the caller, not yet answered
	next    int
	// listed: in table, where a retry finds it. A flight is listed once
	// it asks (a call that asks nothing costs no entry, and no timer).
	listed bool
	// retried: a retry is being taken or waits on the flight; another
	// is refused meanwhile (retryOf).
	retried bool
	// given holds the values of the answers passed on to the upstream,
	// which the trail never keeps (unquoted).
	given []any
}

// waiter is a request of the caller waiting on a flight: its context and
// session, and its progress token (nil: it wants no progress).
type waiter struct {
	ctx     context.Context
	session *mcp.ServerSession
	token   any
}

// inputAsk is one request of the upstream waiting for the caller's answer.
type inputAsk struct {
	id    string
	req   mcp.InputRequest
	reply chan inputReply
}

type inputReply struct {
	res mcp.InputResponse
	err error
}

// takesInput reports whether the caller on ss answers what a tool asks,
// and only on retries: it speaks protocol revision 2026-07-28 or later
// and declared elicitation or sampling. A caller that declared neither
// could answer nothing: its calls run as any other (the upstream is told
// it cannot be asked), without a flight's costs.
func takesInput(ss *mcp.ServerSession) bool {
	if ss == nil {
		return false
	}
	p := ss.InitializeParams()
	return p != nil && p.ProtocolVersion >= "2026-07-28" && p.Capabilities != nil &&
		(p.Capabilities.Elicitation != nil || p.Capabilities.Sampling != nil)
}

// capsOf returns the capabilities the caller on ss declared, if any.
func capsOf(ss *mcp.ServerSession) *mcp.ClientCapabilities {
	if p := ss.InitializeParams(); p != nil {
		return p.Capabilities
	}
	return nil
}

var (
	errFlightEnded = errors.New("the call ended before its caller answered")
	errNoElicit    = errors.New("the caller does not take elicitation requests")
	errNoSampling  = errors.New("the caller does not take sampling requests")
)

// ask is the upstream's side: it puts req to the caller of the flight and
// waits for the answer, as long as ctx (the upstream's request) and the
// call last.
func (fl *flight) ask(ctx context.Context, req mcp.InputRequest) (mcp.InputResponse, error) {
	// What the caller declared it takes, checked as the SDK checks it on
	// a session (an elicitation that names no mode is a form).
	if c := fl.caps; c != nil {
		switch p := req.(type) {
		case *mcp.ElicitParams:
			url := p.Mode == "url" || p.Mode == "" && p.URL != ""
			switch {
			case c.Elicitation == nil:
				return nil, errNoElicit
			case url && c.Elicitation.URL == nil:
				return nil, errors.New(`the caller does not take "url" elicitation`)
			case !url && c.Elicitation.Form == nil && c.Elicitation.URL != nil:
				return nil, errors.New(`the caller does not take "form" elicitation`)
			}
		case *mcp.CreateMessageParams:
			if c.Sampling == nil {
				return nil, errNoSampling
			}
		}
	}
	a := &inputAsk{req: req, reply: make(chan inputReply, 1)}
	select {
	case fl.asks <- a:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-fl.ctx.Done():
		return nil, errFlightEnded
	}
	select {
	case r := <-a.reply:
		return r.res, r.err
	case <-ctx.Done():
		fl.drop(a)
		return nil, ctx.Err()
	case <-fl.ctx.Done():
		return nil, errFlightEnded
	}
}

// drop forgets a that its upstream stopped waiting for.
func (fl *flight) drop(a *inputAsk) {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	delete(fl.pending, a.id)
}

// relayProgress passes the upstream's progress to the request waiting on
// the flight, under that request's own token.
func (fl *flight) relayProgress(_ context.Context, p *mcp.ProgressNotificationParams) {
	if w := fl.waiting.Load(); w != nil && w.token != nil {
		q := *p
		q.ProgressToken = w.token
		w.session.NotifyProgress(w.ctx, &q)
	}
}

// relayLog passes the upstream's log message to the request waiting on
// the flight (at the log level that request asked for), not to the one
// that started it, which ended when the upstream first asked. Between a
// question and its retry nobody waits, and the message goes nowhere.
func (fl *flight) relayLog(p *mcp.LoggingMessageParams) {
	if w := fl.waiting.Load(); w != nil {
		w.session.Log(w.ctx, p)
	}
}

// newFlight returns the flight of a request of the caller on ss, not yet
// running (fly runs it): its context, which ends with it, lives past the
// request that starts it.
func (g *Gateway) newFlight(ctx context.Context, ss *mcp.ServerSession, owner, method, key, upstream, digest, correlation string) *flight {
	fl := &flight{id: slip.NewID(), owner: owner, method: method, key: key, upstream: upstream, digest: digest,
		correlation: correlation, caps: capsOf(ss), table: &g.flights,
		asks: make(chan *inputAsk), done: make(chan struct{}), pending: map[string]*inputAsk{}}
	fl.ctx, fl.cancel = context.WithCancel(context.WithoutCancel(ctx))
	return fl
}

// fly runs run (which records its result) as the flight fl, and waits
// for it on the caller's request (w); release lets go of what the request
// holds, once it ended. What run's upstream asks or logs goes through
// fl.relays, which the caller of fly hands to it.
func (g *Gateway) fly(ctx context.Context, fl *flight, w *waiter, release func(),
	run func(context.Context) (mcp.Result, error)) (mcp.Result, error) {
	g.flyMu.Lock()
	if g.flyClosed || g.life == nil {
		g.flyMu.Unlock()
		defer release()
		fl.cancel() // closing: it runs as a request that cannot ask
		return run(ctx)
	}
	g.flying.Add(1)
	g.flyMu.Unlock()
	go func() {
		defer g.flying.Done()
		defer release()
		defer context.AfterFunc(g.life, fl.cancel)()
		fl.res, fl.err = run(fl.ctx)
		fl.cancel()
		close(fl.done)
		fl.mu.Lock()
		listed := fl.listed
		fl.mu.Unlock()
		if listed {
			fl.unlistLater()
		}
	}()
	return g.await(ctx, fl, w)
}

// asResult turns a typed result into fly's, a nil one into a nil interface.
func asResult[R interface {
	mcp.Result
	comparable
}](r R, err error) (mcp.Result, error) {
	var zero R
	if r == zero {
		return nil, err
	}
	return r, err
}

// waiterOf is the tool call req, waiting on a flight in ctx.
func waiterOf(ctx context.Context, req *mcp.CallToolRequest) *waiter {
	return &waiter{ctx: ctx, session: req.Session, token: req.Params.GetProgressToken()}
}

// await waits on the caller's request for the flight's outcome, or for
// what its upstream asks, which ends the request with an input-required
// result. A caller that stops waiting abandons the call, as it would any
// other.
func (g *Gateway) await(ctx context.Context, fl *flight, w *waiter) (mcp.Result, error) {
	fl.waiting.Store(w)
	defer fl.waiting.CompareAndSwap(w, nil)
	select {
	case <-fl.done: // ended while nobody waited: what it asked is moot
		return fl.outcome()
	default:
	}
	if r := fl.inputRequired(nil); r != nil {
		return r, nil // asked before and not answered yet
	}
	select {
	case <-fl.done:
		return fl.outcome()
	case a := <-fl.asks:
		return fl.inputRequired(a), nil
	case <-ctx.Done():
		fl.cancel()
		return nil, ctx.Err()
	}
}

// unlistLater drops the ended flight from the table after flightLinger,
// if no retry fetched its outcome first.
func (fl *flight) unlistLater() {
	time.AfterFunc(flightLinger, func() { fl.table.CompareAndDelete(fl.id, fl) })
}

// outcome is the ended flight's answer, fetched: it leaves the table.
func (fl *flight) outcome() (mcp.Result, error) {
	fl.table.CompareAndDelete(fl.id, fl)
	return fl.res, fl.err
}

// inputRequired adds a (if not nil) and whatever else the upstream asks
// at this moment to the questions pending, and returns the result that
// asks them all; nil when none is pending.
func (fl *flight) inputRequired(a *inputAsk) mcp.Result {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	for a != nil {
		fl.next++
		a.id = "input-" + strconv.Itoa(fl.next)
		fl.pending[a.id] = a
		select {
		case a = <-fl.asks:
		default:
			a = nil
		}
	}
	if len(fl.pending) == 0 {
		return nil
	}
	if !fl.listed {
		fl.listed = true
		fl.table.Store(fl.id, fl)
		select {
		case <-fl.done:
			// It ended before it was listed, so its end set no timer to
			// drop it: set one here.
			fl.unlistLater()
		default:
		}
	}
	asked := make(mcp.InputRequestMap, len(fl.pending))
	for id, p := range fl.pending {
		asked[id] = p.req
	}
	return needsInput(fl.method, asked, fl.id)
}

// needsInput builds the input-required result of method. The SDK sets a
// result's type only on what its own handlers return; the gateway answers
// these methods itself, so the result is decoded from its wire form, which
// carries the type.
func needsInput(method string, asked mcp.InputRequestMap, state string) mcp.Result {
	wire := map[string]any{"inputRequests": asked, "requestState": state, "resultType": "input_required"}
	var res mcp.Result
	switch method {
	case "prompts/get":
		wire["messages"], res = []any{}, &mcp.GetPromptResult{}
	case "resources/read":
		wire["contents"], res = []any{}, &mcp.ReadResourceResult{}
	default:
		wire["content"], res = []any{}, &mcp.CallToolResult{}
	}
	raw, err := json.Marshal(wire)
	if err == nil {
		err = json.Unmarshal(raw, res)
	}
	if err != nil {
		// Only a request the SDK cannot encode, which it handed us.
		return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{
			Text: "The upstream asked for something the gateway cannot pass on: " + err.Error()}}}
	}
	return res
}

// answered is a caller's answer matched with the question it answers.
type answered struct {
	ask   *inputAsk
	reply inputReply
}

// match pairs the caller's answers with the questions pending, turned
// into what each upstream request takes, and says what they were, for the
// trail (an elicitation's action, "sampling"), never their content.
// Answers to nothing pending are left out.
func (fl *flight) match(got mcp.InputResponseMap) (out []answered, shown []string) {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	for id, res := range got {
		a := fl.pending[id]
		if a == nil {
			continue
		}
		r := inputReply{}
		switch q := a.req.(type) {
		case *mcp.ElicitParams:
			if er, ok := res.(*mcp.ElicitResult); ok {
				r.res = er
				// The action is the caller's own string: only one of
				// the protocol's reaches the trail.
				action := er.Action
				if action != "accept" && action != "decline" && action != "cancel" {
					action = "an unknown action"
				}
				shown = append(shown, "elicitation: "+action)
			}
		case *mcp.CreateMessageParams:
			var sr *mcp.CreateMessageResult
			if sr, r.err = sampled(res); sr != nil {
				r.res = sr
				shown = append(shown, "sampling")
			}
		default:
			r.err = fmt.Errorf("the gateway cannot pass on an answer to %T", q)
		}
		if r.res == nil && r.err == nil {
			r.err = fmt.Errorf("the caller answered %s with %s", id, answerKind(res))
		}
		if r.err != nil {
			shown = append(shown, "refused: "+answerKind(res))
		}
		out = append(out, answered{a, r})
	}
	return out, shown
}

// deliver hands each answer to the upstream request that asked, if it
// still waits for one.
func (fl *flight) deliver(out []answered) {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	for _, o := range out {
		if fl.pending[o.ask.id] == o.ask {
			delete(fl.pending, o.ask.id)
			if v, ok := givenValue(o.reply.res); ok {
				fl.given = append(fl.given, v)
			}
			o.ask.reply <- o.reply
		}
	}
}

// unquoted is msg, an error the upstream gave for the flight's call, with
// the values of the answers passed on to it replaced as callArgs.unquoted
// replaces the call's arguments: an upstream that says "card 4111…
// declined" must not put in the trail an answer it keeps only as what
// kind of answer it was (match). A nil flight (a call that asked
// nothing) leaves msg as it is.
func (fl *flight) unquoted(msg string) string {
	if fl == nil {
		return msg
	}
	fl.mu.Lock()
	given := callArgs{decoded: map[string]any{"answers": slices.Clone(fl.given)}}
	fl.mu.Unlock()
	return given.unquoted(msg, false)
}

// givenValue returns the values of res, a caller's answer passed on to an
// upstream, as the trail must not quote them (unquoted): an
// elicitation's content, a sampling answer's text.
func givenValue(res mcp.InputResponse) (any, bool) {
	switch r := res.(type) {
	case *mcp.ElicitResult:
		return sentValues(r.Content).values(), true
	case *mcp.CreateMessageResult:
		if t, ok := r.Content.(*mcp.TextContent); ok {
			return t.Text, true
		}
	}
	return nil, false
}

// givenAnswers are the answers a caller on a session gave what an
// upstream asked during one of its requests (relayed on the session, not
// through a flight), which the trail never keeps either: the request's
// context carries them (withGiven) to where they are relayed.
type givenAnswers struct {
	mu     sync.Mutex
	values []any
}

type givenKey struct{}

// withGiven returns ctx carrying a new givenAnswers, and it.
func withGiven(ctx context.Context) (context.Context, *givenAnswers) {
	g := &givenAnswers{}
	return context.WithValue(ctx, givenKey{}, g), g
}

// noteGiven adds res to the answers ctx (a request's) carries, if any.
func noteGiven(ctx context.Context, res mcp.InputResponse) {
	g, _ := ctx.Value(givenKey{}).(*givenAnswers)
	if v, ok := givenValue(res); ok && g != nil {
		g.mu.Lock()
		g.values = append(g.values, v)
		g.mu.Unlock()
	}
}

// unquoted is msg with the values of the answers given replaced, as
// flight.unquoted does; a nil g leaves msg as it is.
func (g *givenAnswers) unquoted(msg string) string {
	if g == nil {
		return msg
	}
	g.mu.Lock()
	given := callArgs{decoded: map[string]any{"answers": slices.Clone(g.values)}}
	g.mu.Unlock()
	return given.unquoted(msg, false)
}

// sampled turns a caller's answer to a sampling request into what an
// upstream on an earlier revision takes: one content block.
func sampled(res mcp.InputResponse) (*mcp.CreateMessageResult, error) {
	switch r := res.(type) {
	case *mcp.CreateMessageResult:
		return r, nil
	case *mcp.CreateMessageWithToolsResult:
		if len(r.Content) != 1 {
			return nil, fmt.Errorf("the caller's sampling answer holds %d content blocks; the upstream takes one", len(r.Content))
		}
		return &mcp.CreateMessageResult{Meta: r.Meta, Content: r.Content[0], Model: r.Model, Role: r.Role, StopReason: r.StopReason}, nil
	}
	return nil, nil
}

func answerKind(res mcp.InputResponse) string {
	switch res.(type) {
	case *mcp.ElicitResult:
		return "an elicitation's answer"
	case *mcp.CreateMessageResult, *mcp.CreateMessageWithToolsResult:
		return "a sampling answer"
	case *mcp.ListRootsResult:
		return "a list of roots"
	}
	return "an unknown answer"
}

// retryOf returns the flight a retry names by its request state, if it
// is the caller's (owner), for the same method, tool, prompt or resource
// (key) and the same arguments (digest), and no other retry has it now;
// else nil. The retry has the flight until it calls done.
func (g *Gateway) retryOf(state, owner, method, key, digest string) (fl *flight, done func()) {
	v, _ := g.flights.Load(state)
	fl, _ = v.(*flight)
	if fl == nil || fl.owner != owner || fl.method != method || fl.key != key || fl.digest != digest {
		return nil, nil
	}
	fl.mu.Lock()
	defer fl.mu.Unlock()
	if fl.retried {
		return nil, nil
	}
	fl.retried = true
	return fl, func() {
		fl.mu.Lock()
		defer fl.mu.Unlock()
		fl.retried = false
	}
}

// answerFlight records in (the retry's allow) with what the answers are,
// before any of them reaches the upstream, passes them on, and waits for
// the flight again.
func (g *Gateway) answerFlight(ctx context.Context, fl *flight, in audit.Event, got mcp.InputResponseMap, w *waiter) (mcp.Result, error) {
	out, answers := fl.match(got)
	if in.Detail == nil {
		in.Detail = map[string]any{}
	}
	select {
	case <-fl.done:
		// The call ended before the answers came (its bound, its upstream
		// gave up): the retry fetches its outcome, and the trail does not
		// say answers were passed on.
		out, answers = nil, nil
		in.Detail["call_ended"] = true
	default:
	}
	in.Detail["answers"] = answers
	if err := g.recorder().Record(ctx, in); err != nil {
		return nil, g.notRecorded(ctx, err)
	}
	// The retry waits on the flight before the upstream has the answers:
	// what the upstream sends right after them (progress, log messages)
	// finds the retry to go to, not the gap between the two requests.
	fl.waiting.Store(w)
	fl.deliver(out)
	if answersDelivered != nil {
		answersDelivered()
	}
	return g.await(ctx, fl, w)
}

// answersDelivered, when set (by tests), runs between a retry's answers
// reaching the upstream and the retry waiting on the flight.
var answersDelivered func()

// resume takes a caller's retry of a tool call's flight: decided again,
// recorded, its answers passed on, and then waited on as the first
// request was.
func (g *Gateway) resume(ctx context.Context, cat *catalogue, who *caller, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	name := req.Params.Name
	shown, _ := clip.String(name, maxToolName)
	ev := baseEvent(who, audit.ToolDecided, shown)
	ev.RemoteAddr, _ = req.Extra.TokenInfo.Extra[remoteKey].(string)
	args, argsErr := canonicalArgs(req.Params.Arguments)
	if argsErr == nil {
		ev.ArgsDigest = slipverify.Digest(args.canonical)
	}
	fl, retried := g.retryOf(req.Params.RequestState, who.key, "tools/call", name, ev.ArgsDigest)
	if fl == nil {
		// A retry that continues no call is a refused tools/call, and
		// counts against the tenant's bound as one (rateLimited): an
		// agent looping on a stale request state is stopped too.
		ev.Correlation, ev.Decision, ev.Policy = slip.NewID(), "deny", PolicyRequestState
		ev.Reasons = []string{"no call of this caller to " + shown + " with these arguments waits for input under this request state"}
		msg := fmt.Sprintf("This call of %s is no longer waiting for your answer (it ended, or it runs on another server). Please call the tool again.", shown)
		if limited, limitMsg := g.callLimited(ctx, req, cat, who); limited != nil {
			ev.Policy, ev.Reasons, msg = limited.Policy, limited.Reasons, limitMsg
		}
		if err := g.recorder().Record(ctx, ev); err != nil {
			return nil, g.notRecorded(ctx, err)
		}
		return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: msg}}}, nil
	}
	defer retried()
	ev.Correlation, ev.SlipID = fl.correlation, fl.slipID
	e := cat.tools[name]
	d := decide(cat, who, e, name, args)
	if d.Allow && (e == nil || e.tool.Upstream != fl.upstream) {
		d = policy.Decision{Policy: policy.PolicyDefaultDeny, Reasons: []string{name + " no longer runs on the upstream its call runs on"}}
	}
	if !d.Allow {
		// The deny is recorded before the call ends for it: the call's
		// result, which its end records, comes after its cause.
		ev.Decision, ev.Policy, ev.Reasons = "deny", d.Policy, d.Reasons
		err := g.recorder().Record(ctx, ev)
		fl.cancel()
		if err != nil {
			return nil, g.notRecorded(ctx, err)
		}
		return refusal(shown), nil
	}
	in := baseEvent(who, audit.ToolInput, name)
	in.Correlation, in.ArgsDigest, in.SlipID = fl.correlation, fl.digest, fl.slipID
	in.Decision, in.Policy, in.Reasons = "allow", d.Policy, d.Reasons
	in.RemoteAddr = ev.RemoteAddr
	res, err := g.answerFlight(ctx, fl, in, req.Params.InputResponses, waiterOf(ctx, req))
	if res == nil {
		return nil, err
	}
	return res.(*mcp.CallToolResult), err
}

// errNoFlight answers a prompts/get or resources/read retry that no
// request of the caller waits for.
var errNoFlight = &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams,
	Message: "this request is no longer waiting for an answer (it ended, or it runs on another server): send it again"}

// flyFeature forwards a prompts/get or resources/read of key (run), as
// forward does, and for a caller that answers on retries as a flight;
// release lets go of what the request holds (its call slot, its lane)
// once it ended.
func flyFeature[R interface {
	mcp.Result
	comparable
}](ctx context.Context, a *featureAudit, c, on *upConn, release func(), method, key string, run func(context.Context) (R, error)) (mcp.Result, error) {
	if takesInput(a.session) {
		// A flight outlives its request, and keeps the request's call
		// slot until it ends, as a tool call's does: the slots bound how
		// many of the caller's run at once.
		fl := a.g.newFlight(ctx, a.session, a.who.key, method, key, c.cfg.Name, a.ev.ArgsDigest, a.ev.Correlation)
		a.asked = fl
		return a.g.fly(ctx, fl, &waiter{ctx: ctx, session: a.session}, release, func(ctx context.Context) (mcp.Result, error) {
			return asResult(forwardAsking(ctx, a, c, on, fl.relays(), run))
		})
	}
	defer release()
	return asResult(forward(ctx, a, c, on, run))
}

// resumeFeature takes a caller's retry of a prompts/get or resources/read
// that asked: the same caller, for the same prompt (and arguments) or
// resource, still allowed the upstream's features, the prompt or template
// not withheld since (cat); recorded
// (feature.input) before its answers reach the upstream.
func (g *Gateway) resumeFeature(ctx context.Context, cat *catalogue, a *featureAudit, ups []*upConn, method, key, state string, got mcp.InputResponseMap) (mcp.Result, error) {
	fl, retried := g.retryOf(state, a.who.key, method, key, a.ev.ArgsDigest)
	if fl == nil {
		a.ev.Policy = PolicyRequestState
		return nil, a.deny(ctx, "no request of this caller waits for input under this request state", errNoFlight)
	}
	defer retried()
	a.ev.Correlation = fl.correlation
	a.ev.Detail["upstream"] = fl.upstream
	i := slices.IndexFunc(ups, func(c *upConn) bool { return c.cfg.Name == fl.upstream })
	if i < 0 {
		defer fl.cancel() // after the deny is recorded, as in resume
		return nil, a.deny(ctx, "the caller may no longer call a tool of the upstream "+fl.upstream, errNotFound)
	}
	// A prompt, or the template a resource is read through, that the
	// upstream changed since the request began is withheld now: its retry
	// is refused as a new request would be (as resume refuses the retry
	// of a tool withheld since).
	kind, withheld := FeaturePrompt, false
	if method == "prompts/get" {
		withheld = !cat.serves(ups[i], featureKey(FeaturePrompt, key))
	} else {
		kind = FeatureTemplate
		_, _, withheld = owner(cat, ups[i:i+1], key)
	}
	if withheld {
		defer fl.cancel()
		return nil, a.deny(ctx, withheldReason(kind), errNotFound)
	}
	in := baseEvent(a.who, audit.FeatureInput, "")
	in.Correlation, in.ArgsDigest, in.RemoteAddr = fl.correlation, fl.digest, a.ev.RemoteAddr
	in.Decision, in.Policy = "allow", PolicyUpstreamFeatures
	in.Reasons = []string{"the caller may call a tool of the upstream " + fl.upstream}
	in.Detail = map[string]any{"method": method, "upstream": fl.upstream}
	return g.answerFlight(ctx, fl, in, got, &waiter{ctx: ctx, session: a.session})
}

// ownCopy returns a resources/read result as the caller's own copy, which
// intercept makes private: from revision 2026-07-28 on, the SDK's client
// hands every read of a URI the one result it cached.
func ownCopy(res mcp.Result) mcp.Result {
	if r, ok := res.(*mcp.ReadResourceResult); ok && r != nil {
		own := *r
		return &own
	}
	return res
}
