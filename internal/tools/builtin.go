package tools

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/slip"
)

// Builtin is a tool Gatehouse itself implements.
type Builtin struct {
	Name        string
	Description string
	InputSchema json.RawMessage
	run         func(ctx context.Context, args map[string]any) *mcp.CallToolResult
}

var builtins = map[string]Builtin{}

func register(b Builtin) { builtins[b.Name] = b }

// Lookup returns the built-in tool named name.
func Lookup(name string) (Builtin, bool) {
	b, ok := builtins[name]
	return b, ok
}

// Names lists the built-in tools, sorted.
func Names() []string {
	var out []string
	for n := range builtins {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Builtins runs the built-in tools. It verifies and redeems each call's slip
// itself before running anything: a caller that skipped the policy, or
// replays a slip, gets nothing.
type Builtins struct {
	// Slips verifies and redeems slips.
	Slips *slip.Minter
	// QueueRedemptions, when set, queues the slip.redeemed audit record
	// instead of waiting for it to be durable (slip.Minter.RedeemQueued):
	// for a caller that writes a durable record of its own once Call
	// returns and before anything is acknowledged (the gateway's
	// tool.result), which covers it. Single use is decided the same way.
	QueueRedemptions bool
}

var _ Backend = (*Builtins)(nil)

// Call implements Backend.
func (b *Builtins) Call(ctx context.Context, token string, call Call) (*mcp.CallToolResult, error) {
	bt, ok := builtins[call.Tool.Builtin]
	if !ok {
		return nil, fmt.Errorf("no built-in tool %q", call.Tool.Builtin)
	}
	redeem := b.Slips.Redeem
	if b.QueueRedemptions {
		redeem = b.Slips.RedeemQueued
	}
	if _, err := redeem(ctx, token, call.Tool.Name, call.Args); err != nil {
		return nil, fmt.Errorf("built-in %s: %w", bt.Name, err)
	}
	args, err := decodeArgs(call.Args)
	if err != nil {
		return errorResult(err.Error()), nil
	}
	return bt.run(ctx, args), nil
}

// decodeArgs reads the call's arguments, a JSON object, keeping numbers
// exact. Keys are matched exactly (never case-insensitively) by the tools.
func decodeArgs(raw []byte) (map[string]any, error) {
	args := map[string]any{}
	if len(raw) == 0 {
		return args, nil
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&args); err != nil {
		return nil, fmt.Errorf("the arguments must be a JSON object: %v", err)
	}
	return args, nil
}

// stringArgs takes the string arguments the tool knows, refusing any other
// argument and any missing required one.
func stringArgs(args map[string]any, required []string, optional ...string) (map[string]string, error) {
	out := map[string]string{}
	for k, v := range args {
		if !slices.Contains(required, k) && !slices.Contains(optional, k) {
			return nil, fmt.Errorf("unknown argument %q", k)
		}
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("argument %q must be a string", k)
		}
		out[k] = s
	}
	for _, k := range required {
		if _, ok := out[k]; !ok {
			return nil, fmt.Errorf("argument %q is required", k)
		}
	}
	return out, nil
}
