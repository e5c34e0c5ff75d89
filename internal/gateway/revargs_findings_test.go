package gateway_test

// Tests of two findings of the review of what a tools/call authorizes
// against what runs: a JSON null the condition did not see, and a key in
// another case that a case-insensitive backend reads as the name the
// condition tests (both fixed in internal/policy).

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/store"
)

// TestConditionSeesNullArguments: a condition over context.args sees the
// arguments the backend gets, nulls included. When JSON null was left out
// of the Cedar record (and out of sets), a condition that forbids a member
// by asking `has` allowed it with the value null, and the API received
// it: under JSON Merge Patch (RFC 7396), the usual meaning of an update's
// body, {"manager": null} removes the manager, which the condition meant
// to keep out of the caller's reach; and a null in a list passed a
// containsAll that no other value outside it would.
func TestConditionSeesNullArguments(t *testing.T) {
	var mu sync.Mutex
	var bodies []string
	api := newAPI(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		mu.Lock()
		bodies = append(bodies, string(body))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"ok":true}`))
	})
	e := newEnv(t, envOptions{tools: []store.Tool{
		{Name: "update_profile", Roles: []string{"support"}, When: `!(context.args has manager)`,
			HTTP: &store.HTTPBackend{Method: "PATCH", URL: api}},
		{Name: "regional_export", Roles: []string{"support"}, When: `["emea", "amer"].containsAll(context.args.regions)`,
			HTTP: &store.HTTPBackend{Method: "POST", URL: api}},
	}})
	cs := e.connect("carol", "acme-assistant", "2025-11-25")
	for _, tt := range []struct {
		tool, args string
		allow      bool
	}{
		{"update_profile", `{"name":"Carol"}`, true},
		{"update_profile", `{"name":"Carol","manager":"bob"}`, false},
		{"update_profile", `{"name":"Carol","manager":null}`, false}, // the API would remove the manager
		{"regional_export", `{"regions":["emea"]}`, true},
		{"regional_export", `{"regions":["emea","apac"]}`, false},
		{"regional_export", `{"regions":["emea",null]}`, false}, // not a region the condition allows
	} {
		mu.Lock()
		before := len(bodies)
		mu.Unlock()
		res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: tt.tool, Arguments: json.RawMessage(tt.args)})
		if err != nil {
			t.Fatalf("%s %s: %v", tt.tool, tt.args, err)
		}
		mu.Lock()
		got := bodies[before:]
		mu.Unlock()
		if res.IsError == tt.allow {
			t.Errorf("%s %s: allowed=%v, want %v; the API received %q", tt.tool, tt.args, !res.IsError, tt.allow, got)
		}
	}
}

// TestCaseVariantKeyAlone: the gateway refuses two keys that differ only
// by case or folding "so no parser downstream can read other arguments
// than the ones allowed" (call.go); one key alone, spelled in another case
// than a name the condition reads, is refused too. Before, the condition
// read context.args.force and found nothing, while a case-insensitive
// decoder (encoding/json, which an upstream's low-level handler, or
// mcp-go's BindArguments, decodes with) read it as force: a condition
// keeping a member out of the agent's reach (`!(context.args has force)`)
// or bounding an optional one (`!(context.args has limit) ||
// context.args.limit <= 100`) was passed by "Force" or "LIMIT".
func TestCaseVariantKeyAlone(t *testing.T) {
	up := mcp.NewServer(&mcp.Implementation{Name: "deployer", Version: "1"}, nil)
	up.AddTool(&mcp.Tool{Name: "deploy", InputSchema: json.RawMessage(
		`{"type":"object","properties":{"service":{"type":"string"},"force":{"type":"boolean"},"limit":{"type":"integer"}}}`)},
		func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			var in struct {
				Service string `json:"service"`
				Force   bool   `json:"force"`
				Limit   int    `json:"limit"`
			}
			if err := json.Unmarshal(req.Params.Arguments, &in); err != nil {
				return nil, err
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprintf("service=%s force=%v limit=%d", in.Service, in.Force, in.Limit)}}}, nil
		})
	e := newEnv(t, envOptions{
		tools: []store.Tool{{Name: "deploy", Upstream: "deployer", Roles: []string{"sales-manager"},
			When: `!(context.args has force) && (!(context.args has limit) || context.args.limit <= 100)`}},
		upstreams: []store.Upstream{{Name: "deployer", URL: serveMCP(t, up)}},
	})
	cs := e.connect("alice", "acme-assistant", "2025-11-25")
	waitFor(t, "the upstream's tool", func() bool { return slices.Contains(toolNames(t, cs), "deploy") })
	for _, tt := range []struct {
		args  string
		allow bool
	}{
		{`{"service":"web"}`, true},
		{`{"service":"web","limit":50}`, true},
		{`{"service":"web","force":true}`, false},
		{`{"service":"web","limit":5000}`, false},
		{`{"service":"web","Force":true}`, false}, // the upstream reads force=true
		{`{"service":"web","LIMIT":5000}`, false}, // the upstream reads limit=5000
	} {
		res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "deploy", Arguments: json.RawMessage(tt.args)})
		if err != nil {
			t.Fatalf("%s: %v", tt.args, err)
		}
		if res.IsError == tt.allow {
			t.Errorf("%s: allowed=%v, want %v; the upstream ran: %q", tt.args, !res.IsError, tt.allow, text(res))
		}
	}
}
