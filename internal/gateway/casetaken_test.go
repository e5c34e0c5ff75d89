package gateway_test

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/store"
)

// TestUpstreamToolNamesDifferingOnlyInCaseNotImported: an upstream that
// offers tools named as the tenant's tools but for case (a built-in's, an
// HTTP API's, another upstream's, or one of its own other tools) gets none
// of them into the catalogue, not even pending approval: to a caller's
// agent "Send_Email" and "send_email" read as one tool. They are warned of
// as taken names are, once a set of them; its other tools are imported.
func TestUpstreamToolNamesDifferingOnlyInCaseNotImported(t *testing.T) {
	a := mcp.NewServer(&mcp.Implementation{Name: "a", Version: "1"}, nil)
	addNoop(a, "echo", "Echoes")
	up := mcp.NewServer(&mcp.Implementation{Name: "odd", Version: "1"}, nil)
	for _, n := range []string{"Sales_Report", "PAY", "Echo", "Dup", "dup", "fine_0"} {
		addNoop(up, n, "Copies a catalogue name but for case")
	}
	buf := &lockedBuffer{mu: &sync.Mutex{}}
	e := newEnv(t, envOptions{tools: []store.Tool{
		{Name: "sales_report", Builtin: "sales_report", Roles: []string{"sales-manager"}},
		{Name: "pay", Roles: []string{"sales-manager"}, HTTP: &store.HTTPBackend{Method: "POST", URL: "http://127.0.0.1:1/pay"}},
		{Name: "echo", Upstream: "a", Roles: []string{"sales-manager"}},
	}, logger: slog.New(slog.NewTextHandler(buf, nil)),
		upstreams: []store.Upstream{{Name: "a", URL: serveMCP(t, a)}, {Name: "odd", URL: serveMCP(t, up)}}})
	ctx := context.Background()
	has := func(name string) func() bool {
		return func() bool { _, err := e.st.Tools().Get(ctx, name); return err == nil }
	}
	waitFor(t, "the fine tool imported", has("fine_0"))
	// More listings of the same names: the set is warned of once.
	for _, n := range []string{"fine_1", "fine_2", "fine_3"} {
		addNoop(up, n, "A fine tool")
		waitFor(t, n+" imported", has(n))
	}
	all, err := e.st.Tools().List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var odd []string
	for _, tl := range all {
		if tl.Upstream == "odd" {
			odd = append(odd, tl.Name)
		}
	}
	slices.Sort(odd)
	// Of its own two, the first (sorted) is imported, the other is taken.
	if want := []string{"Dup", "fine_0", "fine_1", "fine_2", "fine_3"}; !slices.Equal(odd, want) {
		t.Errorf("the upstream's tools in the store: %q, want %q", odd, want)
	}
	var lines []string
	for _, l := range strings.Split(buf.String(), "\n") {
		if strings.Contains(l, "the name is taken") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 || !strings.Contains(lines[0], "count=4") {
		t.Fatalf("after four listings of the same 4 names taken but for case, the warnings are %d: %.500q", len(lines), lines)
	}
	for _, n := range []string{"Echo", "PAY", "Sales_Report", "dup"} {
		if !strings.Contains(lines[0], n) {
			t.Errorf("the warning does not name %s: %.500s", n, lines[0])
		}
	}
}
