package tools

import (
	"context"
	"fmt"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/store"
)

// Call is one tool call, as the gateway allowed it.
type Call struct {
	// Tool is the catalogue entry being called.
	Tool store.Tool
	// Args are the arguments in canonical JSON (slipverify.Canonical): the
	// exact bytes the slip's digest covers and the backend receives.
	Args []byte
	// Progress, when not nil, forwards progress the backend reports to the
	// caller, under the caller's own token whatever token it carries.
	Progress func(ctx context.Context, p *mcp.ProgressNotificationParams)
	// Session, when not nil, is the caller's MCP session. A backend that
	// relays what a tool asks of the caller during the call (sampling,
	// elicitation, log messages) sends it there, within the call's context.
	Session *mcp.ServerSession
	// Caller names who the call is for (the person and the agent acting):
	// what a backend relays may go to this caller's session only if it
	// cannot have come from another caller's call.
	Caller string
	// HTTPStatus, when not nil, receives the status of an HTTP API's
	// answer (the HTTP backend), for the call's audit record.
	HTTPStatus *int
	// Ask, when not nil, takes what the tool asks of the caller during the
	// call (an elicitation, a sampling request) in place of Session: the
	// caller, on a protocol revision without server-to-client requests,
	// answers on a retry of its call. It returns the caller's answer.
	Ask func(ctx context.Context, req mcp.InputRequest) (mcp.InputResponse, error)
	// Log, when not nil, takes the tool's log messages in place of
	// Session: with Ask, they go to the caller's request waiting then.
	//lint:ignore SA1019 logging is deprecated from protocol revision 2026-07-28 on; the revisions before it have it, and the gateway relays it.
	Log func(*mcp.LoggingMessageParams)
}

// Backend runs tool calls.
//
// Call runs call with slip, the permission slip minted for exactly this
// call. A failure of the tool itself (bad arguments, no data, a refusal by
// the API) is a result with IsError set, which the agent sees; an error is
// returned only when the call could not be run at all (the slip was
// refused, the backend is unreachable), and the gateway then answers with
// a generic failure. Implementations are safe for concurrent use.
type Backend interface {
	Call(ctx context.Context, slip string, call Call) (*mcp.CallToolResult, error)
}

// TimeoutError is the error of a call its backend did not answer in time.
// The gateway tells the caller so, and the trail records a timeout.
type TimeoutError struct {
	Tool  string
	After time.Duration // the bound; 0 when unknown
}

func (e *TimeoutError) Error() string {
	if e.After > 0 {
		return fmt.Sprintf("tool %s: no answer within %v", e.Tool, e.After)
	}
	return fmt.Sprintf("tool %s: timed out", e.Tool)
}

// errorResult is a tool result that reports a failure to the agent.
func errorResult(text string) *mcp.CallToolResult {
	return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: text}}}
}
