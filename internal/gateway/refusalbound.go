package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/store"
)

// Design note: refused calls the trail records, bounded per caller.
//
// A refused tool call runs nothing and costs its caller nothing: a denied
// or unknown tool, arguments a schema refuses, a call past the tenant's
// bound. Recorded one for one, an agent looping on one (or a person
// set on filling the disk) would grow the trail as fast as the gateway
// answers, with or without limits.tool_calls_per_minute, crowding out
// everyone's commits. So the refusals of one caller (a person through an
// agent) are counted, in the database like the tenant's bound, in
// windows of a minute; within refusalsPerMinute each is recorded as ever.
// The one that goes past is recorded marked "throttled" (from here on in
// this window, this caller's refusals are not recorded) and, like every
// later one, answered with tooManyRefusals; those write nothing (past the
// bound the count is a read, not a commit). Allowed calls are never
// counted here: the bound is on what the trail records of refusals, not
// on what a caller may do. A count that cannot be taken leaves the
// refusal recorded: it is evidence, and a store that cannot count will
// most likely refuse the record too.

// refusalsPerMinute bounds the refused tool calls of one caller recorded
// in a minute: ten a second, far more than an agent that made a mistake
// makes, far fewer than a loop.
var refusalsPerMinute = 600

// countRefusal counts a refused call of who and says how to record it:
// record is false past the bound, throttled true for the refusal that
// went past it.
func (g *Gateway) countRefusal(ctx context.Context, who *caller) (record, throttled bool) {
	sum := sha256.Sum256([]byte(who.bound))
	key := "refused:" + base64.RawURLEncoding.EncodeToString(sum[:])
	n, err := store.CountUnlessPast(ctx, g.Counters, key, refusalsPerMinute, g.now(), rateWindow)
	if err != nil {
		g.logger().WarnContext(ctx, "gateway: count a refused call", "err", err)
		return true, false
	}
	return n <= refusalsPerMinute+1, n == refusalsPerMinute+1
}

// tooManyRefusals answers a refused call of a caller past its bound of
// recorded refusals, whatever the refusal was: the same for every tool,
// known or not.
func tooManyRefusals() *mcp.CallToolResult {
	return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprintf(
		"This call was not carried out: too many of your tool calls were refused in the last minute (more than %d). Please wait a moment before trying again.", refusalsPerMinute)}}}
}
