package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/gateway"
	"github.com/gatehouse/gatehouse/internal/store"
)

// TestUpstreamFeatureListingBoundedInBytes: what an upstream lists of its
// prompts and resources is bounded in bytes as its tools are (the whole
// listing, and each item): an upstream cannot make the gateway hold, and
// hand every caller, more than a tool listing may take. An item over the
// bound is left out; the listing stops at the bound.
func TestUpstreamFeatureListingBoundedInBytes(t *testing.T) {
	const all, each = 64 << 10, 16 << 10
	defer gateway.SetToolBytes(all, each)()
	up := mcp.NewServer(&mcp.Implementation{Name: "fat", Version: "1"}, &mcp.ServerOptions{PageSize: 1})
	addEcho(up, "Echoes its text")
	read := func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, Text: "x"}}}, nil
	}
	getPrompt := func(context.Context, *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		return &mcp.GetPromptResult{}, nil
	}
	// One prompt and one resource over the bound of one item, then 16 of
	// each of 8 KiB: 128 KiB of each kind, twice what a listing may hold.
	up.AddPrompt(&mcp.Prompt{Name: "prompt_big", Description: strings.Repeat("p", 20<<10)}, getPrompt)
	up.AddResource(&mcp.Resource{URI: "file:///big", Name: "big", Description: strings.Repeat("p", 20<<10)}, read)
	pad := strings.Repeat("p", 8<<10)
	for i := range 16 {
		up.AddPrompt(&mcp.Prompt{Name: fmt.Sprintf("prompt_%02d", i), Description: pad}, getPrompt)
		up.AddResource(&mcp.Resource{URI: fmt.Sprintf("file:///r%02d", i), Name: "r", Description: pad}, read)
	}
	e := newEnv(t, envOptions{
		tools:     []store.Tool{{Name: "echo", Upstream: "fat", Roles: []string{"sales-manager"}}},
		upstreams: []store.Upstream{{Name: "fat", URL: serveMCP(t, up)}},
	})
	cs := e.connect("alice", "acme-assistant", "2025-11-25")
	ctx := context.Background()
	waitFor(t, "the upstream's tool", func() bool { return len(toolNames(t, cs)) == 1 })
	var pl *mcp.ListPromptsResult
	waitFor(t, "the upstream's prompts", func() bool {
		var err error
		if pl, err = cs.ListPrompts(ctx, nil); err != nil {
			t.Fatal(err)
		}
		return len(pl.Prompts) > 0
	})
	rl, err := cs.ListResources(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	pb, _ := json.Marshal(pl.Prompts)
	rb, _ := json.Marshal(rl.Resources)
	if len(pb) > all || len(rb) > all {
		t.Errorf("the gateway holds and lists %d bytes of one upstream's prompts and %d of its resources; a listing may hold %d, one item %d",
			len(pb), len(rb), all, each)
	}
	if len(pl.Prompts) == 0 || len(rl.Resources) == 0 {
		t.Errorf("nothing listed: %d prompts, %d resources (what fits the bounds is kept)", len(pl.Prompts), len(rl.Resources))
	}
	for _, p := range pl.Prompts {
		if p.Name == "prompt_big" {
			t.Error("a prompt over the bound of one item is listed")
		}
	}
	for _, r := range rl.Resources {
		if r.URI == "file:///big" {
			t.Error("a resource over the bound of one item is listed")
		}
	}
}
