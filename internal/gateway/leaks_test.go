package gateway_test

import (
	"context"
	"encoding/json"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/store"
)

// closedURL returns the URL of a loopback address nothing listens on.
func closedURL(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr + "/mcp"
}

// TestRefusalsIndistinguishable: a caller probing the catalogue gets one
// and the same answer to a tools/call of a tool that exists but is not
// its own (no role, the agent's cap, a condition false for the person), a
// tool that does not exist, a tool withheld for approval (its pinned hash
// changed) and a tool whose upstream is down: a tool result (no JSON-RPC
// error), isError, the same text but for the name. Each is one deny in the
// trail, no slip, no result, and no upstream hears of it.
func TestRefusalsIndistinguishable(t *testing.T) {
	up := newTestUpstream("Echoes its text")
	var upCalls atomic.Int64
	up.AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			if method == "tools/call" {
				upCalls.Add(1)
			}
			return next(ctx, method, req)
		}
	})
	url := serveMCP(t, up)
	pinned := strings.Repeat("0", 64)
	e := newEnv(t, envOptions{
		tools: []store.Tool{
			{Name: "sales_report", Builtin: "sales_report", Roles: []string{"sales-manager"}},
			{Name: "payroll_report", Builtin: "payroll_report", Roles: []string{"hr"}},
			{Name: "emea_only", Builtin: "sales_report", Roles: []string{"sales-manager"}, When: `principal.region == "emea"`},
			// Its upstream serves it, but not as approved.
			{Name: "echo", Upstream: "up", Roles: []string{"sales-manager", "hr"}, PinnedHash: pinned},
			// Approved, its upstream serving it as approved.
			{Name: "up_media", Upstream: "up", UpstreamTool: "media", Roles: []string{"hr"}},
			// Its upstream is down.
			{Name: "down_tool", Upstream: "down", Roles: []string{"sales-manager", "hr"}},
		},
		upstreams: []store.Upstream{{Name: "up", URL: url}, {Name: "down", URL: closedURL(t)}},
	})
	ctx := context.Background()
	waitFor(t, "the upstream's tools", func() bool {
		tl, err := e.connect("bob", "acme-assistant", "2025-11-25").ListTools(ctx, nil)
		return err == nil && len(tl.Tools) == 2 // payroll_report, up_media
	})

	// shape is the answer as the caller sees it, the tool's name taken out.
	shape := func(name string, res *mcp.CallToolResult, err error) string {
		if err != nil {
			return "error: " + strings.ReplaceAll(err.Error(), name, "NAME")
		}
		b, _ := json.Marshal(res)
		return strings.ReplaceAll(string(b), name, "NAME")
	}
	for _, v := range []string{"2025-11-25", "2025-03-26", ""} {
		for _, probe := range []struct{ who, agent string }{
			{"dave", "acme-assistant"},  // no role at all
			{"carol", "payroll-bot"},    // roles, but the agent's cap excludes them
			{"carol", "acme-assistant"}, // in AMER: emea_only's condition is false
		} {
			cs := e.connect(probe.who, probe.agent, v)
			names := []string{"payroll_report", "no_such_tool", "echo", "down_tool", "up_media"}
			if probe.who == "carol" && probe.agent == "acme-assistant" {
				names = []string{"emea_only", "payroll_report", "no_such_tool", "echo", "up_media"}
			}
			want := ""
			for _, name := range names {
				for _, args := range []any{map[string]any{"text": "hi"}, map[string]any{}, json.RawMessage(`[1]`)} {
					res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
					got := shape(name, res, err)
					if want == "" {
						want = got
						if !strings.Contains(want, `"isError":true`) || !strings.Contains(want, "Sorry, you don't have access to NAME.") {
							t.Fatalf("%s via %s (%q): %s %v: %s", probe.who, probe.agent, v, name, args, got)
						}
					}
					if got != want {
						t.Errorf("%s via %s (%q): %s %v answered\n%s\nwhere %s answered\n%s", probe.who, probe.agent, v, name, args, got, names[0], want)
					}
				}
			}
		}
	}
	if n := upCalls.Load(); n != 0 {
		t.Errorf("the upstream got %d calls from callers refused", n)
	}
	for _, ev := range e.mem.all() {
		switch ev.Type {
		case audit.ToolDecided:
			if ev.Decision != "deny" {
				t.Errorf("decision %+v", ev)
			}
		case audit.SlipMinted, audit.ToolResult:
			t.Errorf("%s for a refused call: %+v", ev.Type, ev)
		}
	}
}

// TestFeatureProbesIndistinguishable: an upstream's prompts, resources,
// templates and completions are shown to, and served to, only the callers
// who may call one of its tools (resources.go). A caller who may not —
// with no role at all, or with the roles of another upstream's tools only
// — lists none of them, and gets for a prompt, resource, template or
// completion of that upstream the very answer it gets for one that does
// not exist; the upstream hears of none of it.
func TestFeatureProbesIndistinguishable(t *testing.T) {
	open := featureUpstream(func(string) {})
	var hrHeard atomic.Int64
	hr := mcp.NewServer(&mcp.Implementation{Name: "hr-upstream", Version: "1"}, &mcp.ServerOptions{
		CompletionHandler: func(_ context.Context, req *mcp.CompleteRequest) (*mcp.CompleteResult, error) {
			hrHeard.Add(1)
			return &mcp.CompleteResult{Completion: mcp.CompletionResultDetails{Values: []string{"2026-10"}}}, nil
		},
		SubscribeHandler:   func(context.Context, *mcp.SubscribeRequest) error { hrHeard.Add(1); return nil },
		UnsubscribeHandler: func(context.Context, *mcp.UnsubscribeRequest) error { return nil },
	})
	addNoop(hr, "payroll_export", "Exports the payroll")
	hr.AddPrompt(&mcp.Prompt{Name: "payslip", Arguments: []*mcp.PromptArgument{{Name: "employee"}}}, func(context.Context, *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		hrHeard.Add(1)
		return &mcp.GetPromptResult{Messages: []*mcp.PromptMessage{{Role: "user", Content: &mcp.TextContent{Text: "salaries"}}}}, nil
	})
	hr.AddResource(&mcp.Resource{URI: "file:///payroll.csv", Name: "payroll"}, func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		hrHeard.Add(1)
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, Text: "salaries"}}}, nil
	})
	hr.AddResourceTemplate(&mcp.ResourceTemplate{URITemplate: "payroll:///{month}", Name: "months"}, func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		hrHeard.Add(1)
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, Text: "salaries"}}}, nil
	})
	e := newEnv(t, envOptions{
		tools: []store.Tool{
			{Name: "echo", Upstream: "up", Roles: []string{"sales-manager"}},
			{Name: "payroll_export", Upstream: "hr", Roles: []string{"hr"}},
		},
		upstreams: []store.Upstream{{Name: "up", URL: serveMCP(t, open)}, {Name: "hr", URL: serveMCP(t, hr)}},
	})
	ctx := context.Background()
	bob := e.connect("bob", "acme-assistant", "2025-11-25")
	waitFor(t, "the hr upstream's prompt, resource and template", func() bool {
		pl, err1 := bob.ListPrompts(ctx, nil)
		rl, err2 := bob.ListResources(ctx, nil)
		tl, err3 := bob.ListResourceTemplates(ctx, nil)
		return err1 == nil && err2 == nil && err3 == nil && len(pl.Prompts) == 1 && len(rl.Resources) == 1 && len(tl.ResourceTemplates) == 1
	})
	waitFor(t, "the open upstream's prompt", func() bool {
		pl, err := e.connect("alice", "acme-assistant", "2025-11-25").ListPrompts(ctx, nil)
		return err == nil && len(pl.Prompts) == 1
	})

	shape := func(v any, err error) string {
		if err != nil {
			return "error: " + err.Error()
		}
		b, _ := json.Marshal(v)
		return string(b)
	}
	for _, v := range []string{"2025-11-25", ""} {
		for _, probe := range []struct {
			who, agent string
			prompts    []string // what prompts/list shows
		}{
			{"dave", "acme-assistant", nil},                // no role at all
			{"alice", "acme-assistant", []string{"greet"}}, // the open upstream's tools only
			{"bob", "payroll-bot", nil},                    // hr, but the agent's cap leaves no hr upstream tool
		} {
			cs := e.connect(probe.who, probe.agent, v)
			pl, err := cs.ListPrompts(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			var listed []string
			for _, p := range pl.Prompts {
				listed = append(listed, p.Name)
			}
			if strings.Join(listed, ",") != strings.Join(probe.prompts, ",") {
				t.Errorf("%s via %s (%q): prompts/list %v, want %v", probe.who, probe.agent, v, listed, probe.prompts)
			}
			if rl, err := cs.ListResources(ctx, nil); err != nil || slices.ContainsFunc(rl.Resources, func(r *mcp.Resource) bool { return r.URI == "file:///payroll.csv" }) {
				t.Errorf("%s via %s (%q): resources/list %v %v", probe.who, probe.agent, v, shape(rl, nil), err)
			}
			if tl, err := cs.ListResourceTemplates(ctx, nil); err != nil || len(tl.ResourceTemplates) != 0 {
				t.Errorf("%s via %s (%q): resources/templates/list %v %v", probe.who, probe.agent, v, shape(tl, nil), err)
			}
			same := func(what string, got []string) {
				for _, g := range got[1:] {
					if g != got[0] {
						t.Errorf("%s via %s (%q): %s: %s, where one that does not exist gets %s", probe.who, probe.agent, v, what, g, got[0])
					}
				}
			}
			var got []string
			for _, name := range []string{"no_such_prompt", "payslip"} {
				res, err := cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: name, Arguments: map[string]string{"employee": "x"}})
				got = append(got, shape(res, err))
			}
			same("prompts/get", got)
			got = nil
			for _, uri := range []string{"file:///no-such.csv", "file:///payroll.csv", "payroll:///2026-10"} {
				res, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: uri})
				got = append(got, strings.ReplaceAll(shape(res, err), uri, "URI"))
			}
			same("resources/read", got)
			got = nil
			for _, ref := range []*mcp.CompleteReference{
				{Type: "ref/prompt", Name: "no_such_prompt"}, {Type: "ref/prompt", Name: "payslip"},
				{Type: "ref/resource", URI: "payroll:///{month}"},
			} {
				res, err := cs.Complete(ctx, &mcp.CompleteParams{Ref: ref, Argument: mcp.CompleteParamsArgument{Name: "employee", Value: "x"}})
				got = append(got, shape(res, err))
			}
			same("completion/complete", got)
			if v != "" {
				got = nil
				for _, uri := range []string{"file:///no-such.csv", "file:///payroll.csv", "payroll:///2026-10"} {
					err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: uri})
					got = append(got, strings.ReplaceAll(shape(nil, err), uri, "URI"))
				}
				same("resources/subscribe", got)
			}
		}
	}
	if n := hrHeard.Load(); n != 0 {
		t.Errorf("the hr upstream served %d requests of callers who may call none of its tools", n)
	}
}
