package gateway_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/gateway"
	"github.com/gatehouse/gatehouse/internal/store"
)

// TestImportedToolsBounded: an upstream that offers new tool names a few
// at a time, each listing within the bounds, cannot grow the catalogue
// without end: past as many names as one listing may hold, a new name is
// not imported. (Its prompts and templates are bounded alike:
// TestFeaturePinsBounded.)
func TestImportedToolsBounded(t *testing.T) {
	defer gateway.SetListBounds(3, 30*time.Second)()
	up := mcp.NewServer(&mcp.Implementation{Name: "churn", Version: "1"}, nil)
	addEcho(up, "Echoes its text")
	add := func(name string) {
		mcp.AddTool(up, &mcp.Tool{Name: name, Description: "Offered on its own"},
			func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
				return &mcp.CallToolResult{}, nil, nil
			})
	}
	add("t1")
	us := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return up }, nil))
	t.Cleanup(us.Close)
	e := newEnv(t, envOptions{
		tools:     []store.Tool{{Name: "echo", Upstream: "up", Roles: []string{"sales-manager"}}},
		upstreams: []store.Upstream{{Name: "up", URL: us.URL}},
	})
	ctx := context.Background()
	imported := func(name string) bool {
		_, err := e.st.Tools().Get(ctx, name)
		return err == nil
	}
	waitFor(t, "t1 imported", func() bool { return imported("t1") })
	add("t2")
	waitFor(t, "t2 imported", func() bool { return imported("t2") })
	// Three names kept for the upstream (echo, t1, t2): t3 is one more,
	// though the listing (echo, t2, t3) is within the bound.
	up.RemoveTools("t1")
	add("t3")
	add("t4")
	up.RemoveTools("t2")
	// Last, echo changes: the import pass that withholds it has first
	// decided on t3 and t4 (new names before changed ones), so once echo
	// is withheld, t3 and t4 would have been imported by then.
	addEcho(up, "Echoes its text, changed")
	waitFor(t, "the changed echo withheld", func() bool {
		echo, err := e.st.Tools().Get(ctx, "echo")
		return err == nil && echo.PendingHash != ""
	})
	for _, n := range []string{"t3", "t4"} {
		if _, err := e.st.Tools().Get(ctx, n); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s imported past the bound (%v)", n, err)
		}
	}
}
