package gateway_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/policy"
)

// TestHugeToolNameRefusedAndAudited: a tools/call of a name no tool can
// have, however long, gets the usual refusal and a deny in the trail. Both
// show the name's first 64 bytes, marked; the trail keeps its length.
func TestHugeToolNameRefusedAndAudited(t *testing.T) {
	e := newEnv(t, envOptions{realAudit: true})
	log := e.audit.(*audit.Log)
	ctx := context.Background()
	for _, v := range []string{"2025-11-25", ""} {
		alice := e.connect("alice", "acme-assistant", v)
		for _, n := range []int{65, 60_000, 70_000, 1 << 20} {
			name := strings.Repeat("x", n)
			res, err := alice.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: map[string]any{}})
			if err != nil {
				t.Errorf("%q, %d bytes: %v", v, n, err)
				continue
			}
			if want := "Sorry, you don't have access to " + name[:64] + "…."; !res.IsError || text(res) != want {
				t.Errorf("%q, %d bytes: %v %.100q, want the refusal of %.20q…", v, n, res.IsError, text(res), name)
			}
		}
	}
	// Not a tool name, and short: shown as it is.
	alice := e.connect("alice", "acme-assistant", "2025-11-25")
	if res := call(t, alice, "sales report", nil); !res.IsError || text(res) != "Sorry, you don't have access to sales report." {
		t.Errorf("a name with a space: %v %q", res.IsError, text(res))
	}

	page, err := log.Query(ctx, audit.Filter{Types: []string{audit.ToolDecided}, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var lengths []float64
	for _, en := range page.Entries {
		ev := en.Event
		if ev.Decision != "deny" || ev.Policy != policy.PolicyDefaultDeny || ev.Actor != "alice" || len(ev.Reasons) == 0 {
			t.Errorf("decision %s", en.Raw)
		}
		if ev.Tool == "sales report" {
			if ev.Detail["tool_bytes"] != nil {
				t.Errorf("a short name marked as cut: %s", en.Raw)
			}
			continue
		}
		if ev.Tool != strings.Repeat("x", 64)+"…" || ev.Detail["tool_truncated"] != true || len(en.Raw) > 2048 {
			t.Errorf("decision of a long name: %.300s", en.Raw)
		}
		n, _ := ev.Detail["tool_bytes"].(float64)
		lengths = append(lengths, n)
	}
	if want := []float64{65, 60_000, 70_000, 1 << 20, 65, 60_000, 70_000, 1 << 20}; !slices.Equal(lengths, want) {
		t.Errorf("recorded lengths %v, want %v", lengths, want)
	}
}

// TestHugeFeatureNamesAudited: a prompts/get, resources/read or
// completion/complete whose prompt name, URI or argument name is huge is
// refused as ever, and its deny keeps the method and the reason, with the
// name's first bytes and its length.
func TestHugeFeatureNamesAudited(t *testing.T) {
	e := newEnv(t, envOptions{realAudit: true})
	log := e.audit.(*audit.Log)
	ctx := context.Background()
	huge := strings.Repeat("p", 100_000)
	alice := e.connect("alice", "acme-assistant", "2025-11-25")
	if _, err := alice.GetPrompt(ctx, &mcp.GetPromptParams{Name: huge}); err == nil || strings.Contains(err.Error(), "audit") {
		t.Errorf("prompts/get: %v", err)
	}
	if _, err := alice.ReadResource(ctx, &mcp.ReadResourceParams{URI: "file:///" + huge}); err == nil || strings.Contains(err.Error(), "audit") {
		t.Errorf("resources/read: %v", err)
	}
	if _, err := alice.Complete(ctx, &mcp.CompleteParams{Ref: &mcp.CompleteReference{Type: "ref/prompt", Name: huge},
		Argument: mcp.CompleteParamsArgument{Name: huge}}); err != nil {
		t.Errorf("completion/complete: %v", err)
	}
	page, err := log.Query(ctx, audit.Filter{Types: []string{audit.FeatureDecided}, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{"prompts/get": {"prompt"}, "resources/read": {"uri"}, "completion/complete": {"prompt", "argument"}}
	for _, en := range page.Entries {
		ev := en.Event
		method, _ := ev.Detail["method"].(string)
		keys, ok := want[method]
		if !ok || ev.Decision != "deny" || len(ev.Reasons) == 0 || len(en.Raw) > 8<<10 {
			t.Errorf("decision %.300s", en.Raw)
			continue
		}
		delete(want, method)
		for _, k := range keys {
			s, _ := ev.Detail[k].(string)
			if n, _ := ev.Detail[k+"_bytes"].(float64); !strings.HasSuffix(s, "…") || len(s) > 2048 || n < 100_000 {
				t.Errorf("%s: %s %.40q…, %s_bytes %v", method, k, s, k, ev.Detail[k+"_bytes"])
			}
		}
	}
	if len(want) != 0 {
		t.Errorf("no decision for %v", want)
	}
}
