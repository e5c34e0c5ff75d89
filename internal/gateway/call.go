package gateway

// Design note: the call path.
//
// The SDK parses JSON-RPC, runs sessions and writes answers; the gateway
// takes over tools/list and tools/call in a receiving middleware
// (intercept), so that both are answered from the caller's own view of the
// catalogue, and so that a tool that does not exist and a tool the caller
// may not call get byte-for-byte the same answer (the SDK would answer the
// first with a protocol error).
//
// The arguments are canonicalized once (slipverify.Canonical). The policy
// decides on exactly those bytes, the slip's digest covers them and the
// backend receives them: a key spelled twice, or two keys that differ only
// by case or Unicode folding, are refused before anything is decided, so no
// parser downstream can read other arguments than the ones allowed.
//
// When the tenant declares a tool's input_schema (all an HTTP API tool
// has), the canonical arguments must match it before a slip is minted; the
// schema is compiled once per catalogue. Built-in tools check their own
// arguments, and upstream MCP servers their own schemas.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	sjson "github.com/segmentio/encoding/json"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/clip"
	"github.com/gatehouse/gatehouse/internal/identity/accesstoken"
	"github.com/gatehouse/gatehouse/internal/policy"
	"github.com/gatehouse/gatehouse/internal/slip"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/tools"
	"github.com/gatehouse/gatehouse/slipverify"
)

// Policy names the gateway itself decides with, besides the policy
// package's.
const (
	// PolicyWithheld: the tool's upstream definition changed and awaits
	// approval.
	PolicyWithheld = "withheld"
	// PolicyBadArguments: the arguments have no canonical form.
	PolicyBadArguments = "bad-arguments"
	// PolicyInputSchema: the arguments do not match the tool's input
	// schema (the tenant's input_schema).
	PolicyInputSchema = "input-schema"
	// PolicyCallerBusy: the caller has maxCallsPerCaller calls running
	// already (callslots.go).
	PolicyCallerBusy = "caller-busy"
	// PolicyTokenScope: the token's scope does not name the tool (a
	// token narrowed to some tools, scope tool:<name>).
	PolicyTokenScope = "token-scope"
	// PolicyLanesBusy: the tool's upstream is per_caller, the caller has
	// no process of its own there, and maxLanes are open with none idle
	// to close (lanes.go).
	PolicyLanesBusy = "lanes-busy"
	// PolicyLaneFailed: the tool's upstream is per_caller and the
	// caller's own process of it could not be started (or one failed to
	// start a moment ago).
	PolicyLaneFailed = "lane-failed"
	// PolicyUnavailable: the tool is its upstream's, whose definition of
	// it is not known (its upstream has not listed it since the gateway
	// started), and none can be had now: the upstream is not connected,
	// or connected and not listing it. Decided only for a caller the
	// policy allows: any other is refused as ever.
	PolicyUnavailable = "unavailable"
)

// listPageSize is how many tools one tools/list page holds.
const listPageSize = 500

// intercept answers tools/list and tools/call, and the prompt, resource
// and completion methods (interceptFeatures); everything else goes to the
// SDK. The results it answers itself get their cache-control fields here,
// as the SDK sets those of its own (setCacheable).
func (g *Gateway) intercept(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		res, ok, err := g.answer(ctx, method, req)
		if !ok {
			return next(ctx, method, req)
		}
		if c := cacheableOf(res); c != nil {
			setCacheable(ctx, req, c)
		}
		return res, err
	}
}

// answer answers the methods the gateway takes over; ok is false for any
// other.
func (g *Gateway) answer(ctx context.Context, method string, req mcp.Request) (res mcp.Result, ok bool, err error) {
	switch method {
	case "tools/list":
		if r, ok := req.(*mcp.ListToolsRequest); ok {
			res, err := g.listTools(ctx, r)
			return res, true, err
		}
	case "tools/call":
		if r, ok := req.(*mcp.CallToolRequest); ok {
			res, err := g.callTool(ctx, r)
			return res, true, err
		}
	}
	return g.interceptFeatures(ctx, method, req)
}

// who resolves the request's caller against the current catalogue.
func (g *Gateway) who(ctx context.Context, req mcp.Request) (*catalogue, *caller, error) {
	extra := req.GetExtra()
	if extra == nil || extra.TokenInfo == nil {
		return nil, nil, errors.New("unauthenticated request")
	}
	claims, ok := extra.TokenInfo.Extra[callerKey].(*accesstoken.Claims)
	cat := g.catalogue()
	if !ok || cat == nil {
		return nil, nil, errors.New("unauthenticated request")
	}
	return g.resolve(ctx, cat, claims)
}

// errNotRecorded is what a caller is told when the audit trail could not
// take a record its request needs before it is carried out: nothing was
// (a call's result refused after its tool ran is errResultNotRecorded, a
// prompt's, resource's or completion's after its upstream served it
// errFeatureResultNotRecorded).
// The store's own error stays in the server's log: it names tables and
// database errors the caller has no use for.
var errNotRecorded = errors.New("the request could not be recorded in the audit trail, so it was not carried out; try again later")

// notRecorded logs why the audit trail refused a record, under the
// request's ID, and returns errNotRecorded, for the caller.
func (g *Gateway) notRecorded(ctx context.Context, err error) error {
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		// The caller hung up while its record was being confirmed: no
		// failure of the trail's (which may well take the record), and
		// nobody hears the answer.
		g.logger().InfoContext(ctx, "gateway: the caller went away before its record was confirmed")
		return errNotRecorded
	}
	g.logger().ErrorContext(ctx, "gateway: the audit trail refused a record", "err", err)
	return errNotRecorded
}

// errResultNotRecorded is what a caller is told when a call was passed to
// its tool but the trail refused its result: the outcome is not passed on,
// and the caller is not told the call was not carried out (errNotRecorded),
// since the tool may well have acted, and an agent told "try again" would
// have it act twice.
var errResultNotRecorded = errors.New("the outcome of the call could not be recorded in the audit trail, so it is not passed on; the tool may have acted: check before calling it again")

// resultNotRecorded logs why the audit trail refused the result of a
// request that reached its tool or upstream and returns told, for the
// caller: errResultNotRecorded for a tool call,
// errFeatureResultNotRecorded for a prompt, resource or completion.
func (g *Gateway) resultNotRecorded(ctx context.Context, err, told error) error {
	g.notRecorded(ctx, err) // its log line; the caller is told otherwise
	return told
}

// baseEvent is the audit event every record of a call starts from.
func baseEvent(who *caller, typ, tool string) audit.Event {
	return audit.Event{
		Type:    typ,
		Session: who.claims.SessionID,
		TokenID: who.claims.JTI,
		Actor:   who.claims.Subject,
		Agent:   who.agent.ClientID,
		Chain:   who.agent.Chain,
		Tool:    tool,
	}
}

func (g *Gateway) listTools(ctx context.Context, req *mcp.ListToolsRequest) (*mcp.ListToolsResult, error) {
	cat, who, err := g.who(ctx, req)
	if err != nil {
		return nil, err
	}
	all := cat.visible(who.principal, who.agent, who.scopes)
	after := ""
	if req.Params != nil && req.Params.Cursor != "" {
		b, err := base64.RawURLEncoding.DecodeString(req.Params.Cursor)
		if err != nil {
			return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: "invalid cursor"}
		}
		after = string(b)
	}
	res := &mcp.ListToolsResult{Tools: []*mcp.Tool{}}
	for _, e := range all {
		if after != "" && e.tool.Name <= after {
			continue
		}
		if len(res.Tools) == listPageSize {
			res.NextCursor = base64.RawURLEncoding.EncodeToString([]byte(res.Tools[len(res.Tools)-1].Name))
			break
		}
		res.Tools = append(res.Tools, e.def)
	}
	ev := baseEvent(who, audit.ToolsListed, "")
	ev.RemoteAddr = remoteAddr(req)
	ev.Status = "ok"
	ev.Detail = map[string]any{"count": len(res.Tools)}
	if err := g.recorder().Record(ctx, ev); err != nil {
		return nil, g.notRecorded(ctx, err)
	}
	return res, nil
}

// maxToolName is the length of the longest tool name (store.IsToolName),
// and how much of a name the caller chose the trail's reasons and the
// answers show (clip.String): a request can carry a name of megabytes, and
// the trail keeps an event's name whole (only its Detail and Reasons give
// way to its size limit).
const maxToolName = 64

// refusal is the answer to a call of a tool the caller may not call, and
// to a call of a tool that does not exist: the same, so that the answer
// tells nothing about the catalogue.
func refusal(tool string) *mcp.CallToolResult {
	return &mcp.CallToolResult{
		IsError: true,
		Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprintf("Sorry, you don't have access to %s.", tool)}},
	}
}

// timedOut is the answer to a call its backend did not answer within
// after (0: a bound of its own).
func timedOut(tool string, after time.Duration, sent bool) *mcp.CallToolResult {
	text := fmt.Sprintf("The tool %s did not answer in time.", tool)
	if after > 0 {
		text = fmt.Sprintf("The tool %s did not answer within %v.", tool, after)
	}
	if sent {
		// Its server had the call: "try again" could have it act twice.
		text += " It may have run: check before calling it again."
	} else {
		text += " Please try again later."
	}
	return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: text}}}
}

// mayHaveRun is the answer to an HTTP API tool's call that failed on the
// way (no answer, none in time, or a server error) after the API had
// redeemed its slip.
func mayHaveRun(tool string) *mcp.CallToolResult {
	return &mcp.CallToolResult{
		IsError: true,
		Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprintf("The tool %s may have run: no answer saying whether it was carried out arrived. Check before calling it again.", tool)}},
	}
}

func failure(tool string) *mcp.CallToolResult {
	return &mcp.CallToolResult{
		IsError: true,
		Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprintf("The tool %s could not be run. Please try again later.", tool)}},
	}
}

func (g *Gateway) callTool(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	start := time.Now()
	cat, who, err := g.who(ctx, req)
	if err != nil {
		return nil, err
	}
	// A call records and waits twice (its allow, its result): concurrent
	// calls then share the trail's commits.
	defer audit.Busy(g.recorder())()
	if req.Params.RequestState != "" {
		return g.resume(ctx, cat, who, req)
	}
	// What the call holds while it runs (its slot, its lane): released
	// when callTool returns, or handed to a flight (mrtr.go) that goes on.
	var held holds
	defer held.release()
	busy, release := g.callSlot(who.bound)
	held.add(release)
	name := req.Params.Name
	// A name no tool can have is refused as any unknown tool is, shown
	// shortened in the trail and the refusal.
	shown, cut := name, false
	isName := store.IsToolName(name)
	if !isName {
		shown, cut = clip.String(name, maxToolName)
	}
	ev := baseEvent(who, audit.ToolDecided, shown)
	ev.Correlation = slip.NewID()
	ev.RemoteAddr, _ = req.Extra.TokenInfo.Extra[remoteKey].(string)
	e := cat.tools[name]

	// Decide, on the canonical arguments.
	args, argsErr := canonicalArgs(req.Params.Arguments)
	if argsErr == nil && e != nil && e.tool.HTTP != nil && len(args.canonical) > slipverify.MaxBody {
		// An API's verifier reads no more (slipverify.VerifyRequest): a
		// slip for them would be refused there, after the allow.
		argsErr = fmt.Errorf("%w: %d bytes as canonical JSON", errTooLarge, len(args.canonical))
	}
	// The trail keeps the arguments as a digest and, when the tenant opted
	// in (audit.raw_arguments), as the canonical JSON the decision is made
	// on, secrets redacted. A reason for refusing them may quote them only
	// where the trail keeps them whole anyway (argsReason).
	quote := false
	if argsErr == nil {
		ev.ArgsDigest = slipverify.Digest(args.canonical)
		if cat.rawArguments {
			kept := args.redacted()
			ev.Detail = map[string]any{"arguments": kept}
			quote = bytes.Equal(kept, args.canonical)
		}
	}
	if cut {
		if ev.Detail == nil {
			ev.Detail = map[string]any{}
		}
		ev.Detail["tool_truncated"], ev.Detail["tool_bytes"] = true, len(name)
	}
	limited, limitMsg := g.callLimited(ctx, req, cat, who)
	var d policy.Decision
	var schemaErr error
	switch {
	case limited != nil:
		d = *limited
	case busy:
		d = policy.Decision{Policy: PolicyCallerBusy, Reasons: []string{busyReason()}}
	case !isName:
		d = policy.Decision{Policy: policy.PolicyDefaultDeny, Reasons: []string{"unknown tool: not a tool name"}}
	case argsErr != nil:
		d = policy.Decision{Policy: PolicyBadArguments, Reasons: []string{argsReason(argsErr, quote)}}
	default:
		d = decide(cat, who, e, name, args)
		// The arguments of a call the policy allows never run unchecked
		// against the tool's schema; nor are they checked for a tool the
		// caller may not call (a refusal then costs what an unknown
		// tool's does, and tells nothing of a schema). A caller who may
		// call the tool is told what is wrong with them, also where a
		// condition on them refused the call.
		if e.callable() && e.schema != nil && (d.Allow || cat.mayCall(who, name)) {
			if schemaErr = e.validate(args.canonical); schemaErr != nil {
				d = policy.Decision{Policy: PolicyInputSchema, Reasons: []string{"the arguments do not match the input schema of " + name + ": " + argsReason(schemaErr, quote)}}
			}
		}
	}
	// An allowed call of an upstream's tool takes the caller's lane
	// there first (lanes.go): on a per_caller upstream a call that cannot
	// have one is refused here, and never runs on the gateway's own
	// process. (An upstream that does not serve the tool as pinned now
	// fails the call after its allow, with notServed, as a backend would.)
	var on *upConn
	var laneErr *laneError
	var notServed error
	// An upstream tool the catalogue knows by name only (its upstream has
	// not listed it: nobody's tools/list shows it) is refused before the
	// allow when its upstream cannot serve it now, rather than allowed, a
	// slip minted for it and the call failed: the caller, who may call it,
	// is told it could not be run, as it was. One that a listing under way
	// may yet bring waits for it after the allow, in reserve (checkServed),
	// as before. A tool the catalogue knows keeps failing after its allow
	// when its upstream is down, as any backend's call does.
	unavailable := false
	if d.Allow && e.def == nil && e.tool.Backend() == "upstream" {
		if why := g.ups.unavailable(e.tool); why != "" {
			d = policy.Decision{Policy: PolicyUnavailable, Reasons: []string{name + " is unavailable: " + why}}
			unavailable = true
		}
	}
	if d.Allow && e.tool.Backend() == "upstream" {
		var release func()
		on, release, notServed = g.ups.reserve(ctx, e.tool, who.key)
		held.add(release)
		if errors.As(notServed, &laneErr) {
			d = policy.Decision{Policy: laneErr.policy, Reasons: []string{laneErr.upstream + ": " + laneErr.reason}}
		}
	}
	mayCall := schemaErr != nil // and so told why
	ev.Policy, ev.Reasons = d.Policy, d.Reasons
	if !d.Allow {
		ev.Decision = "deny"
		record, throttled := g.countRefusal(ctx, who) // refusalbound.go
		if throttled {
			if ev.Detail == nil {
				ev.Detail = map[string]any{}
			}
			ev.Detail["throttled"], ev.Detail["refusals_per_minute"] = true, refusalsPerMinute
		}
		if record {
			if err := g.recorder().Record(ctx, ev); err != nil {
				return nil, g.notRecorded(ctx, err)
			}
		}
		if !record || throttled {
			return tooManyRefusals(), nil
		}
		if limited != nil {
			return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: limitMsg}}}, nil
		}
		if busy {
			return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprintf(
				"Too many of your tool calls are running at once (%d). Please wait for one to finish, then try again.", maxCallsPerCaller)}}}, nil
		}
		if laneErr != nil {
			return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: laneErr.Error()}}}, nil
		}
		if unavailable {
			// Only a caller the policy allowed is told so: to any other
			// the tool is refused as an unknown one is.
			return failure(name), nil
		}
		// Bad arguments of a tool the caller may call deserve a useful
		// answer; of any other tool, the same refusal as ever.
		if argsErr != nil && cat.mayCall(who, name) {
			return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: "The arguments were refused: " + argsErr.Error()}}}, nil
		}
		if mayCall {
			return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: "The arguments do not match the input schema of " + name + ": " + schemaErr.Error()}}}, nil
		}
		return refusal(shown), nil
	}

	// Allowed. What follows an allow is recorded even if the caller goes
	// away.
	ev.Decision = "allow"
	result := func(status string, extra map[string]any) audit.Event {
		r := baseEvent(who, audit.ToolResult, name)
		r.Correlation, r.ArgsDigest, r.SlipID = ev.Correlation, ev.ArgsDigest, ev.SlipID
		r.Status = status
		r.DurationMS = float64(time.Since(start).Microseconds()) / 1000
		r.Detail = extra
		return r
	}
	redeemer := ""
	if e.tool.HTTP != nil {
		redeemer = e.tool.HTTP.ClientID
	}
	token, claims, err := g.Slips.Mint(slip.Request{
		Tool: name, Args: args.canonical, Subject: who.claims.Subject, Actor: who.actor,
		Redeemer: redeemer, Correlation: ev.Correlation,
		// Built-in and upstream MCP tools know no slips: the executor
		// redeems theirs here, and they never leave the process.
		Local: e.tool.HTTP == nil,
	})
	if err != nil {
		g.logger().ErrorContext(ctx, "gateway: mint slip", "tool", name, "err", err)
		if err := audit.RecordAll(ctx, g.recorder(), ev, result("error", map[string]any{"error": "slip not minted"})); err != nil {
			return nil, g.notRecorded(ctx, err)
		}
		return failure(name), nil
	}
	ev.SlipID = claims.JTI
	m := baseEvent(who, audit.SlipMinted, name)
	m.Correlation, m.ArgsDigest, m.SlipID = ev.Correlation, ev.ArgsDigest, claims.JTI
	m.Detail = map[string]any{"expires": claims.Expiry, "audience": claims.Audience}
	// The allow and its slip are durable, in one commit, before anything
	// runs. A slip the executor redeems here (built-in and upstream
	// tools) is spent in that same commit, its single-use marker with it;
	// one for an API is redeemed by the API (introspection): by the client
	// the tool names, or by any service client when it names none.
	// The commit is waited for even if the caller goes away meanwhile:
	// the trail may take the allow all the same, which then needs its
	// result (a call its caller left by then does not run: see run).
	actx := context.WithoutCancel(ctx)
	if e.tool.HTTP == nil {
		_, err = g.Slips.RecordSpent(actx, g.recorder(), token, &claims, ev, m)
	} else {
		err = audit.RecordAll(actx, g.recorder(), ev, m)
	}
	if err != nil {
		return nil, g.notRecorded(ctx, err)
	}

	call := tools.Call{Tool: e.tool, Args: args.canonical, Session: req.Session,
		Caller: who.key}
	// An API's answer outside 2xx is recorded with its status.
	var httpStatus int
	if e.tool.HTTP != nil {
		call.HTTPStatus = &httpStatus
	}
	if pt := req.Params.GetProgressToken(); pt != nil {
		// The call's own context: it routes the notification to the
		// stream that carries this request.
		call.Progress = func(_ context.Context, p *mcp.ProgressNotificationParams) {
			p.ProgressToken = pt
			req.Session.NotifyProgress(ctx, p)
		}
	}
	var fl *flight          // the call's, when it runs as one
	var given *givenAnswers // the answers given on the session, when it does not
	run := func(ctx context.Context, call tools.Call) (*mcp.CallToolResult, error) {
		var (
			res *mcp.CallToolResult
			err error
		)
		switch {
		case ctx.Err() != nil:
			err = ctx.Err() // its caller left before it ran
		case notServed != nil:
			err = notServed
		case on != nil:
			res, err = g.ups.call(ctx, token, call, on)
		default:
			res, err = g.backend(e).Call(ctx, token, call)
		}
		return g.finish(ctx, finishing{e: e, name: name, correlation: ev.Correlation, token: token, claims: &claims,
			httpStatus: &httpStatus, args: args, quote: quote, asked: fl, given: given, result: result}, res, err)
	}
	if on != nil && notServed == nil && ctx.Err() == nil && takesInput(req.Session) {
		// A caller on a revision without server-to-client requests
		// answers what the upstream asks during the call on a retry.
		fl = g.newFlight(ctx, req.Session, who.key, "tools/call", name, e.tool.Upstream, ev.ArgsDigest, ev.Correlation)
		fl.slipID = ev.SlipID
		call.Ask, call.Log = fl.ask, fl.relayLog
		// Progress goes to whichever request waits on the flight, under
		// its own token: the caller's may change from one retry to the next.
		call.Progress = fl.relayProgress
		res, err := g.fly(ctx, fl, waiterOf(ctx, req), held.take(), func(ctx context.Context) (mcp.Result, error) {
			return asResult(run(ctx, call))
		})
		if res == nil {
			return nil, err
		}
		return res.(*mcp.CallToolResult), err
	}
	ctx, given = withGiven(ctx)
	return run(ctx, call)
}

// finishing is what finish needs of the call it ends.
type finishing struct {
	e           *entry
	name        string
	correlation string
	token       string // the call's slip
	claims      *slipverify.Claims
	httpStatus  *int
	args        callArgs
	quote       bool
	asked       *flight       // the call's flight, whose answers the trail never keeps; nil: none
	given       *givenAnswers // the answers given on the caller's session, which it never keeps either
	result      func(status string, extra map[string]any) audit.Event
}

// finish records the result of a call that ran (res, or err) and returns
// what its caller is told.
func (g *Gateway) finish(ctx context.Context, f finishing, res *mcp.CallToolResult, err error) (*mcp.CallToolResult, error) {
	e, name, quote, result := f.e, f.name, f.quote, f.result
	unquoted := func(msg string) string { return f.given.unquoted(f.asked.unquoted(f.args.unquoted(msg, quote))) }
	actx := context.WithoutCancel(ctx)
	done := func(r audit.Event) error { return g.recorder().Record(actx, r) }
	taken := false // the API redeemed (or may have redeemed) the slip of a call that failed
	if e.tool.HTTP != nil && (err != nil || res.IsError) {
		// The API's slip dies with the call: an API that redeems it late
		// is refused, so a retry cannot make the action happen twice.
		// That holds for an answer outside 2xx too, which the caller is
		// told is a failure: a proxy in front of the API may answer 502
		// or 504 while the API behind it still holds the slip.
		// The record says whether the API had taken it (it may have acted).
		state := "voided"
		if voided, verr := g.Slips.Void(actx, f.token, f.claims); verr != nil {
			g.logger().ErrorContext(ctx, "gateway: void the slip of a failed call", "tool", name, "err", verr)
			state = "unknown"
			// Whether the API took the slip is not known, nor whether
			// it may still: the caller is told as if it had.
			taken = true
		} else if !voided {
			state = "redeemed"
			taken = true
		}
		done = func(r audit.Event) error {
			if r.Detail == nil {
				r.Detail = map[string]any{}
			}
			r.Detail["slip"] = state
			if *f.httpStatus != 0 {
				r.Detail["http_status"] = *f.httpStatus
			}
			return g.recorder().Record(actx, r)
		}
	}
	if err != nil {
		var rpc *jsonrpc.Error
		status := "error"
		if errors.As(err, &rpc) && !localRPCError(rpc) {
			// A protocol error of an upstream server goes back as it came
			// (but for the URLs it may send the person to: relayedError);
			// one the SDK's client makes itself (the transport refused the
			// request: a 502 of a proxy, say) is a call that failed, as for
			// a prompt or resource (forwardAsking).
			rpc = relayedError(rpc)
			detail := map[string]any{"code": rpc.Code}
			putErr(detail, unquoted(rpc.Message))
			if aerr := done(result(status, detail)); aerr != nil {
				return nil, g.resultNotRecorded(ctx, aerr, errResultNotRecorded)
			}
			return nil, rpc
		}
		msg, log := "gateway: tool call failed", g.logger().Warn
		var late *tools.TimeoutError
		switch {
		case errors.Is(err, slipverify.ErrUsed):
			status = "refused"
		case errors.As(err, &late):
			status, msg = "timeout", "gateway: tool call timed out"
		case ctx.Err() != nil:
			// The caller cancelled the call, or its session (or the
			// gateway) ended: no failure of the tool's, and the trail
			// tells the two apart.
			status, msg, log = "cancelled", "gateway: tool call cancelled", g.logger().Info
		}
		// Cut short as an upstream's errors are (maxLoggedErr): the
		// text may quote what the backend sent (a header of the
		// upstream's, in the SDK's error), as long as it likes.
		logged, _ := shownErr(err.Error())
		log(msg, "tool", name, "correlation", f.correlation, "err", logged)
		// The trail's the same (putErr), once the arguments are masked:
		// a record past its size bound would keep neither the reason nor
		// the slip's state.
		detail := map[string]any{}
		putErr(detail, unquoted(err.Error()))
		if aerr := done(result(status, detail)); aerr != nil {
			return nil, g.resultNotRecorded(ctx, aerr, errResultNotRecorded)
		}
		if taken {
			// An API redeems before it acts: this call ran, or is
			// running, though its answer never came. "Try again" would
			// have the action happen twice.
			return mayHaveRun(name), nil
		}
		// An upstream that had the call and gave no answer may have
		// acted on it, as an API that took its slip may have.
		var sent *sentError
		if late != nil {
			return timedOut(name, late.After, errors.As(err, &sent)), nil
		}
		if errors.As(err, &sent) {
			return mayHaveRun(name), nil
		}
		return failure(name), nil
	}
	status := "ok"
	if res.IsError {
		status = "tool_error"
		if ctx.Err() != nil {
			// The call was cancelled (by its caller, by a denied retry
			// of it, by the gateway closing) before this error answer
			// came: an upstream whose question failed with the
			// cancellation answers so. It is recorded as the
			// cancellation it followed, whichever of the two the
			// gateway saw first.
			status = "cancelled"
		}
	}
	if err := done(result(status, nil)); err != nil {
		return nil, g.resultNotRecorded(ctx, err, errResultNotRecorded)
	}
	if res.Content == nil {
		res.Content = []mcp.Content{}
	}
	if taken && *f.httpStatus >= 500 {
		// A server error after the API took the slip (a proxy's 502 or
		// 504 in front of an API still working, an API failing half
		// way) says nothing of whether the action happened; a 4xx is
		// the API refusing, and is passed on as it is.
		res.Content = append(res.Content, mayHaveRun(name).Content...)
	}
	return res, nil
}

func (g *Gateway) backend(e *entry) tools.Backend {
	switch e.tool.Backend() {
	case "builtin":
		return g.builtins
	case "http":
		return g.httpTools
	case "upstream":
		return g.ups
	}
	return noBackend{}
}

type noBackend struct{}

func (noBackend) Call(context.Context, string, tools.Call) (*mcp.CallToolResult, error) {
	return nil, errors.New("the tool has no backend")
}

// argsReason is what the trail says of err, why the arguments were
// refused. The message of err quotes the arguments (a string over its
// maxLength, a member named twice, a number out of range): it is the
// caller's answer, who sent them, but the trail's reason only when quote
// is true, as it is when the trail keeps the arguments whole (the tenant
// keeps raw arguments and none was redacted). Otherwise the trail says
// which rule failed and where, without the values.
func argsReason(err error, quote bool) string {
	if quote {
		return err.Error()
	}
	var se *schemaError
	switch {
	case errors.As(err, &se):
		return se.rule
	case errors.Is(err, errNotObject), errors.Is(err, errTooLarge):
		return err.Error()
	case errors.Is(err, slipverify.ErrNotCanonicalizable):
		// "…: offset N: member "x" appears twice": only the offset.
		what := slipverify.ErrNotCanonicalizable.Error()
		rest := strings.TrimPrefix(err.Error(), what+": ")
		if off, _, ok := strings.Cut(rest, ": "); ok {
			if n, ok := strings.CutPrefix(off, "offset "); ok {
				if _, err := strconv.Atoi(n); err == nil {
					return what + " at " + off
				}
			}
		}
		return what
	}
	return "the arguments cannot be read"
}

// errNotObject refuses arguments that are JSON, but not an object.
var errNotObject = errors.New("the arguments must be a JSON object")

// errTooLarge refuses the arguments of an HTTP API tool that are larger,
// in canonical JSON, than the API's verifier reads (slipverify.MaxBody).
var errTooLarge = fmt.Errorf("the arguments of an HTTP API tool must be at most %d bytes", slipverify.MaxBody)

// callArgs are a call's arguments: canonical JSON, or the values
// themselves (decoded) when a caller's answers stand in for them.
type callArgs struct {
	canonical []byte
	decoded   map[string]any
}

// values returns the arguments decoded from their canonical JSON (numbers
// as json.Number), for a condition of the policy, the trail's redaction and
// unquoted. Decoded when asked for: most calls need none of these.
func (a callArgs) values() map[string]any {
	if a.decoded != nil || a.canonical == nil {
		return a.decoded
	}
	d := json.NewDecoder(bytes.NewReader(a.canonical))
	d.UseNumber()
	var m map[string]any
	// Canonical JSON is a JSON object (canonicalArgs): it decodes.
	_ = d.Decode(&m)
	return m
}

// redacted returns the arguments as the trail keeps them: canonical JSON
// with the values of secret-looking keys redacted at any depth, by the
// rule the trail applies to every Detail (which does not look into JSON
// text). Should that fail, it keeps nothing but the marker.
func (a callArgs) redacted() json.RawMessage {
	b, err := json.Marshal(audit.Redact(a.values()))
	if err == nil {
		b, err = slipverify.Canonical(b)
	}
	if err != nil {
		b, _ = json.Marshal(audit.Redacted)
	}
	return b
}

// unquoted is msg, an error a backend gave for a call with arguments a,
// as the trail may keep it: whole when quote is true (the trail keeps the
// arguments whole anyway), otherwise with every value of the arguments of
// four bytes or more (as written, and as written inside a JSON string)
// replaced by "[argument]". An upstream saying "invalid card 4111…" or
// repeating the arguments would otherwise put in the trail what it keeps
// only as a digest.
func (a callArgs) unquoted(msg string, quote bool) string {
	if quote {
		return msg
	}
	var values []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		case string:
			values = append(values, v)
			if b, err := json.Marshal(v); err == nil && string(b[1:len(b)-1]) != v {
				values = append(values, string(b[1:len(b)-1]))
			}
		case json.Number:
			values = append(values, v.String())
		}
	}
	walk(a.values())
	// Longest first: a value inside another is replaced with it.
	slices.SortFunc(values, func(x, y string) int { return len(y) - len(x) })
	for _, v := range values {
		if len(v) >= 4 {
			msg = strings.ReplaceAll(msg, v, "[argument]")
		}
	}
	return msg
}

func canonicalArgs(raw json.RawMessage) (callArgs, error) {
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		raw = []byte("{}")
	}
	c, err := slipverify.Canonical(raw)
	if err != nil {
		return callArgs{}, err
	}
	if c[0] != '{' {
		return callArgs{}, errNotObject
	}
	return callArgs{canonical: c}, nil
}

// checkScope answers 403 insufficient_scope, before the SDK sees the
// request, when a token narrowed to some tools (scope tool:<name>) calls a
// tool its person may call but its scope does not name, so that the client
// can ask for that scope (step-up). Tokens not narrowed skip the peek. The
// calls of a request so refused are returned, for the trail.
//
// The peek reads the body exactly as the SDK will (see sdkUnmarshal), so
// that the tool it concerns is the tool the SDK hands to callTool: with
// {"name":"a","NAME":"b"} both see a, with {"name":"a","name":"b"} both
// see b. A batch (which the SDK runs for protocol revisions before
// 2025-06-18 and refuses from it on) is checked call by call: if any call
// needs a scope the token lacks, the whole batch is answered 403 with
// every missing tool scope, and none of it runs.
func (g *Gateway) checkScope(r *http.Request, body []byte, cat *catalogue, who *caller) (*bearerError, []toolCall) {
	if who.scopes == nil || body == nil {
		return nil, nil
	}
	var missing []string
	calls := toolCalls(body, batchesServed(r))
	for i, c := range calls {
		if who.scopes.allows(c.Name) || !cat.mayCall(who, c.Name) {
			continue // in scope, or not the scope's fault: the usual refusal follows
		}
		calls[i].outOfScope = true
		if !slices.Contains(missing, c.Name) {
			missing = append(missing, c.Name)
		}
	}
	if len(missing) == 0 {
		return nil, nil
	}
	scope := who.claims.Scope
	for _, name := range missing {
		scope += " tool:" + name
	}
	return &bearerError{status: http.StatusForbidden, code: "insufficient_scope",
		description: "the token's scope does not include tool:" + strings.Join(missing, ", tool:"),
		scope:       strings.TrimSpace(scope)}, calls
}

// stepUpRefused records the calls of a request checkScope refused, each a
// denied tools/call of its own (as callTool records a refusal), in one
// commit before the 403 goes out: a call out of the token's scope, and any
// other call of the same batch, which did not run either.
func (g *Gateway) stepUpRefused(r *http.Request, cat *catalogue, who *caller, refused []toolCall) error {
	events := make([]audit.Event, 0, len(refused))
	for _, c := range refused {
		name, _ := clip.String(c.Name, maxToolName)
		ev := baseEvent(who, audit.ToolDecided, name)
		ev.Correlation = slip.NewID()
		ev.RemoteAddr = g.clientAddr(r)
		ev.Decision, ev.Policy = "deny", PolicyTokenScope
		ev.Reasons = []string{"the token's scope does not include tool:" + name + " (answered 403 insufficient_scope, for the client to ask for it)"}
		if !c.outOfScope {
			ev.Reasons = []string{"not run: its batch was answered 403 insufficient_scope for another call"}
		}
		if args, err := canonicalArgs(c.Arguments); err == nil {
			ev.ArgsDigest = slipverify.Digest(args.canonical)
			if cat.rawArguments {
				ev.Detail = map[string]any{"arguments": args.redacted()}
			}
		}
		events = append(events, ev)
	}
	return audit.RecordAll(r.Context(), g.recorder(), events...)
}

// toolCall is what checkScope reads of a tools/call request.
type toolCall struct {
	Name       string          `json:"name"`
	Arguments  json.RawMessage `json:"arguments"`
	outOfScope bool            // the token's scope does not name the tool
}

// maxBatch bounds the messages of one JSON-RPC batch. Each tools/call of
// a batch is decided and recorded on its own, so one request of a few
// megabytes could otherwise write tens of thousands of records in one
// commit and hold the audit writer for everyone. It is the bound on a
// caller's running calls, which a batch cannot usefully pass.
const maxBatch = 32

// postBody reads a POST's body for the checks made before the SDK sees
// it, and puts it back for the SDK: nil for another method, or a body the
// SDK will refuse as too large. A body that could not be read to its end
// (a malformed chunk, a connection closed or timed out before its
// Content-Length) is refused here: what came of it may be a whole message,
// which the SDK, handed the bytes without the error, would run. A batch of
// more than maxBatch messages is refused here (a batch the SDK runs, or
// one it would refuse anyway for its protocol revision: the same answer, a
// 400, and nothing runs).
func postBody(r *http.Request) (body []byte, refuse string) {
	if r.Method != http.MethodPost || r.Body == nil {
		return nil, ""
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, mcp.DefaultMaxRequestBodyBytes+1))
	r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return nil, "the request body could not be read to its end"
	}
	if len(body) > mcp.DefaultMaxRequestBodyBytes {
		return nil, ""
	}
	if first := bytes.TrimLeft(body, " \t\r\n"); len(first) > 0 && first[0] == '[' {
		var raws []json.RawMessage
		if sdkUnmarshal(body, &raws) == nil && len(raws) > maxBatch {
			return nil, fmt.Sprintf("a JSON-RPC batch may hold at most %d messages; this one holds %d", maxBatch, len(raws))
		}
	}
	return body, ""
}

// batchesServed reports whether the SDK runs a JSON-RPC batch sent with
// r: only for revisions before 2025-06-18, and for a request without
// the protocol version header, which it takes for 2025-03-26.
func batchesServed(r *http.Request) bool {
	return r.Header.Get("Mcp-Protocol-Version") < "2025-06-18"
}

// toolCalls returns the tools/call requests in a POST body, one message
// or a batch, as the SDK reads them (its readBatch, then the params of
// each call); nil when the SDK would refuse the body, a batch included
// when batches says it does. A call whose params the SDK cannot decode
// is left out: the SDK answers it with a protocol error and runs nothing.
func toolCalls(body []byte, batches bool) []toolCall {
	var raws []json.RawMessage
	if sdkUnmarshal(body, &raws) != nil {
		raws = []json.RawMessage{body}
	} else if !batches {
		return nil
	}
	var calls []toolCall
	for _, raw := range raws {
		msg, err := jsonrpc.DecodeMessage(raw)
		if err != nil {
			return nil
		}
		call, ok := msg.(*jsonrpc.Request)
		if !ok || call.Method != "tools/call" {
			continue
		}
		var p toolCall
		if sdkUnmarshal(call.Params, &p) == nil {
			calls = append(calls, p)
		}
	}
	return calls
}

// sdkUnmarshal decodes as the SDK (v1.8.0, its internal/json) decodes
// JSON-RPC messages and their params: segmentio/encoding/json with
// case-sensitive field matching, so a key that is "name" only by case or
// Unicode folding is not "name", and of two "name" keys the last wins.
// encoding/json, which matches case-insensitively, would read another
// name than the SDK.
func sdkUnmarshal(data []byte, v any) error {
	d := sjson.NewDecoder(bytes.NewReader(data))
	d.DontMatchCaseInsensitiveStructFields()
	return d.Decode(v)
}

// mayCall reports whether who's person, through its agent, may call tool
// for some arguments, whatever the token's scope.
func (c *catalogue) mayCall(who *caller, tool string) bool {
	return c.tools[tool].callable() && slices.Contains(c.policy.Visible(who.principal, who.agent), tool)
}

// decide is the decision on a call of the tool name (its entry e, nil
// for none) with args, by who: a tool withheld, the policy, the token's
// scope. A call and its retries (mrtr.go) are decided by it.
func decide(cat *catalogue, who *caller, e *entry, name string, args callArgs) policy.Decision {
	if e != nil && e.withheld != "" {
		return policy.Decision{Policy: PolicyWithheld, Reasons: []string{name + " is withheld: " + e.withheld}}
	}
	r := policy.Request{Principal: who.principal, Agent: who.agent, Tool: name}
	if cat.policy.Conditional(name) {
		r.Args = args.values() // nothing else of the policy reads them
	}
	d := cat.policy.Decide(r)
	if d.Allow && !who.scopes.allows(name) {
		d = policy.Decision{Policy: PolicyTokenScope, Reasons: append(d.Reasons, "the token's scope does not include tool:"+name)}
	}
	return d
}
