package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/policy"
)

// Design note: the tenant's bound on tool calls.
//
// limits.tool_calls_per_minute bounds the tool calls one caller (a person
// through an agent, or a machine client on its own) starts in a minute,
// and limits.tool_calls_per_minute_per_person those one person starts
// through all agents together (a person who may register agents would
// otherwise have the first bound once per agent registered),
// refused or not: an agent caught in a loop is stopped whatever it asks
// for. The count is the database's (Counters: one statement per call,
// atomic across replicas), as the login throttle's is, in fixed windows of
// a minute from the caller's first counted call; so a caller may make up
// to twice the bound across the boundary of two windows, and never more
// in any one of them. The gateway asks only when the tenant sets a bound.
// A call beyond it is refused politely, as a denied tool.decision of
// policy rate-limit, and runs nothing; so is one whose count could not be
// taken (deny by default).
//
// A call answered 403 insufficient_scope (checkScope) is a refused call as
// well, counted before the SDK sees its request (countCalls), each call of
// a batch on its own. Beyond the bound it is not answered 403 (whose
// records a caller could otherwise write without end, whatever the bound)
// but as any call beyond it is: its request goes on to callTool, which
// finds it counted already (limitedKey) and refuses it as rate-limited.

// PolicyRateLimit: the caller went beyond the tenant's
// limits.tool_calls_per_minute, or its calls could not be counted.
const PolicyRateLimit = "rate-limit"

// rateWindow is the window of limits.tool_calls_per_minute.
const rateWindow = time.Minute

// rateLimited counts a tool call of the caller against cat's bounds and
// returns the decision refusing it when it goes beyond one (or cannot be
// counted), with the caller's message; nil when it may go on. The
// caller's own bound is counted first; a call it refuses does not count
// against the person's bound across agents.
func (g *Gateway) rateLimited(ctx context.Context, cat *catalogue, who *caller) (*policy.Decision, string) {
	if d, msg := g.countCall(ctx, "call:", who.bound, cat.callsPerMinute, "this caller",
		"You have made more tool calls in the last minute than this organisation allows (%d). Please wait a moment, then try again."); d != nil {
		return d, msg
	}
	if who.person == "" {
		return nil, ""
	}
	return g.countCall(ctx, "person:", who.person, cat.personCallsPerMinute, "this person through all agents",
		"You have made more tool calls in the last minute, through all your agents together, than this organisation allows (%d). Please wait a moment, then try again.")
}

// countCall counts a call against the bound limit of key's counter (kind
// names the counter's family, whose the count is in the refusal's reason,
// tell the caller's message); nil when it is within or there is no bound.
func (g *Gateway) countCall(ctx context.Context, kind, key string, limit int, whose, tell string) (*policy.Decision, string) {
	if limit <= 0 {
		return nil, ""
	}
	// The key names the person (and agent: an agent's ID may be a 2,000
	// byte URL): the counter's name is its digest.
	sum := sha256.Sum256([]byte(key))
	n, err := g.Counters.CountAttempt(ctx, kind+base64.RawURLEncoding.EncodeToString(sum[:]), g.now(), rateWindow)
	if err != nil {
		g.logger().ErrorContext(ctx, "gateway: count a tool call", "err", err)
		return &policy.Decision{Policy: PolicyRateLimit, Reasons: []string{"the caller's tool calls could not be counted"}},
			"Your tool calls could not be counted just now, so this one was not carried out. Please try again shortly."
	}
	if n <= limit {
		return nil, ""
	}
	return &policy.Decision{Policy: PolicyRateLimit, Reasons: []string{fmt.Sprintf("call %d of %s in its minute; the tenant allows %d", n, whose, limit)}},
		fmt.Sprintf(tell, limit)
}

// overLimit is the refusal of calls beyond the tenant's bound, and the
// caller's message.
type overLimit struct {
	decision *policy.Decision
	msg      string
}

// countCalls counts n tool calls of the caller against cat's bound, and
// returns the refusal of the first beyond it (or not counted); nil when
// none is.
func (g *Gateway) countCalls(ctx context.Context, cat *catalogue, who *caller, n int) *overLimit {
	for range n {
		if d, msg := g.rateLimited(ctx, cat, who); d != nil {
			return &overLimit{decision: d, msg: msg}
		}
	}
	return nil
}

// callLimited is rateLimited for one tools/call of req: its request's
// calls may have been counted already (limitedKey), beyond the bound.
func (g *Gateway) callLimited(ctx context.Context, req *mcp.CallToolRequest, cat *catalogue, who *caller) (*policy.Decision, string) {
	if req.Extra != nil && req.Extra.TokenInfo != nil {
		if l, ok := req.Extra.TokenInfo.Extra[limitedKey].(*overLimit); ok {
			return l.decision, l.msg
		}
	}
	return g.rateLimited(ctx, cat, who)
}
