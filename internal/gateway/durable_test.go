package gateway_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/slip"
	"github.com/gatehouse/gatehouse/internal/store"
)

// TestAllowDurableBeforeBackend: when an upstream tool runs, the call's
// allow, its slip and the slip's redemption (with its single-use marker)
// are already committed to the audit trail; when the answer comes back,
// the result is too.
func TestAllowDurableBeforeBackend(t *testing.T) {
	var st store.AuditStore
	up := mcp.NewServer(&mcp.Implementation{Name: "probe", Version: "1"}, nil)
	mcp.AddTool(up, &mcp.Tool{Name: "probe", Description: "Lists the committed audit record types"},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			recs, err := st.AuditRecords(ctx, store.AuditFilter{Types: []string{audit.ToolDecided, audit.SlipMinted, audit.SlipRedeemed}, Limit: 100})
			if err != nil {
				return nil, nil, err
			}
			var types []string
			for _, r := range recs {
				types = append(types, r.Type)
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: strings.Join(types, ",")}}}, nil, nil
		})
	us := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return up }, nil))
	t.Cleanup(us.Close)
	e := newEnv(t, envOptions{realAudit: true,
		tools:     []store.Tool{{Name: "probe", Upstream: "up", Roles: []string{"sales-manager"}}},
		upstreams: []store.Upstream{{Name: "up", URL: us.URL}}})
	st = e.st
	cs := e.connect("alice", "acme-assistant", "2025-11-25")
	waitFor(t, "probe listed", func() bool { return slices.Contains(toolNames(t, cs), "probe") })

	res := call(t, cs, "probe", map[string]any{})
	// The executor redeems the slip it runs with: spent in the allow's
	// commit, with its single-use marker.
	if res.IsError || text(res) != "tool.decision,slip.minted,slip.redeemed" {
		t.Fatalf("the backend saw committed %q, want the allow, its slip and its redemption", text(res))
	}
	// Answered: the result is committed too.
	recs, err := e.st.AuditRecords(context.Background(), store.AuditFilter{Tool: "probe", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs {
		got = append(got, r.Type)
	}
	if want := []string{audit.ToolDecided, audit.SlipMinted, audit.SlipRedeemed, audit.ToolResult}; !slices.Equal(got, want) {
		t.Errorf("committed %v, want %v", got, want)
	}
	var ev audit.Event
	if err := json.Unmarshal(recs[0].Event, &ev); err != nil || ev.SlipID == "" {
		t.Fatalf("decision %s: %v", recs[0].Event, err)
	}
	if first, err := e.st.Consume(context.Background(), slip.ConsumeKind, ev.SlipID, time.Now().Add(time.Minute)); err != nil || first {
		t.Errorf("the slip's marker: first=%v, %v; want it used", first, err)
	}
}
