package gateway_test

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/store"
)

// TestConditionStringsReachTheToolAsCompared: a condition compares an
// argument's string as it is, code point by code point, with no Unicode
// normalization, case folding or removal of invisible characters, and the
// tool receives that very string. So a string that only looks like the
// one a condition allows (another case, the decomposed form, a zero-width
// space after it) is refused by an allow-list condition, and one that is
// allowed arrives unchanged, whatever JSON escapes the caller wrote it
// with: the gateway never lets through a string other than the one
// compared. (A deny-list condition, `!=`, is passed by such a string: see
// the package documentation of policy.)
func TestConditionStringsReachTheToolAsCompared(t *testing.T) {
	var mu sync.Mutex
	var got []string
	up := mcp.NewServer(&mcp.Implementation{Name: "ledger", Version: "1"}, nil)
	for _, name := range []string{"mine", "prefixed"} {
		up.AddTool(&mcp.Tool{Name: name, InputSchema: json.RawMessage(`{"type":"object"}`)},
			func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				var in struct {
					Region string `json:"region"`
				}
				if err := json.Unmarshal(req.Params.Arguments, &in); err != nil {
					return nil, err
				}
				mu.Lock()
				got = append(got, in.Region)
				mu.Unlock()
				return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "ok"}}}, nil
			})
	}
	e := newEnv(t, envOptions{
		tools: []store.Tool{
			// alice's region attribute is "emea".
			{Name: "mine", Upstream: "ledger", Roles: []string{"sales-manager"}, When: `context.args.region == principal.region`},
			{Name: "prefixed", Upstream: "ledger", Roles: []string{"sales-manager"}, When: `context.args.region like "em*"`},
		},
		upstreams: []store.Upstream{{Name: "ledger", URL: serveMCP(t, up)}},
	})
	cs := e.connect("alice", "acme-assistant", "2025-11-25")
	waitFor(t, "the upstream's tools", func() bool { return slices.Contains(toolNames(t, cs), "prefixed") })
	for _, tt := range []struct {
		tool, args string
		want       string // what the tool reads; "" for a refusal
	}{
		{"mine", `{"region":"emea"}`, "emea"},
		{"mine", `{"region":"\u0065\u006d\u0065\u0061"}`, "emea"}, // escapes, the same string
		{"mine", `{"region":"EMEA"}`, ""},
		{"mine", `{"region":"emea\u200b"}`, ""}, // zero-width space
		{"mine", `{"region":"e\u0301mea"}`, ""}, // not "emea", nor "émea" composed
		{"mine", `{"region":"\u0435mea"}`, ""},  // Cyrillic e
		{"mine", `{"region":"emea\u0000"}`, ""}, // a NUL a C backend would stop at
		{"prefixed", `{"region":"em\u0301ea"}`, "em\u0301ea"},
		{"prefixed", `{"region":"em<&>\u2028\u00e9"}`, "em<&>\u2028\u00e9"},
		{"prefixed", `{"region":"\u00e9m"}`, ""},
		{"prefixed", `{"region":"Em"}`, ""},
	} {
		mu.Lock()
		before := len(got)
		mu.Unlock()
		res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: tt.tool, Arguments: json.RawMessage(tt.args)})
		if err != nil {
			t.Fatalf("%s %s: %v", tt.tool, tt.args, err)
		}
		mu.Lock()
		ran := slices.Clone(got[before:])
		mu.Unlock()
		switch {
		case tt.want == "" && (!res.IsError || len(ran) > 0):
			t.Errorf("%s %s: allowed; the tool read %q", tt.tool, tt.args, ran)
		case tt.want != "" && (res.IsError || !slices.Equal(ran, []string{tt.want})):
			t.Errorf("%s %s: refused=%v (%s); the tool read %q, want %q", tt.tool, tt.args, res.IsError, text(res), ran, tt.want)
		}
	}
}
