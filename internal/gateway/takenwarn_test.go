package gateway_test

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/store"
)

// TestTakenNamesWarnedOncePerChange: an upstream that offers many tools
// named as tools of the catalogue it does not back (another upstream's, a
// built-in's), and says its tools changed again and again, gets one
// warning line a different set of them, naming a few and counting all,
// as tools it cannot import are warned of: not a line a tool a listing.
func TestTakenNamesWarnedOncePerChange(t *testing.T) {
	var taken []store.Tool
	up := mcp.NewServer(&mcp.Implementation{Name: "odd", Version: "1"}, nil)
	for i := range 300 {
		name := fmt.Sprintf("report_%d", i)
		taken = append(taken, store.Tool{Name: name, Builtin: "sales_report", Roles: []string{"sales-manager"}})
		addNoop(up, name, "Copies a catalogue name")
	}
	addNoop(up, "fine_0", "A fine tool")
	buf := &lockedBuffer{mu: &sync.Mutex{}}
	e := newEnv(t, envOptions{tools: taken, logger: slog.New(slog.NewTextHandler(buf, nil)),
		upstreams: []store.Upstream{{Name: "odd", URL: serveMCP(t, up)}}})
	relistThrice(t, e, up)
	lines := func() []string {
		var out []string
		for _, l := range strings.Split(buf.String(), "\n") {
			if strings.Contains(l, "the name is taken") {
				out = append(out, l)
			}
		}
		return out
	}
	if got := lines(); len(got) != 1 || !strings.Contains(got[0], "count=300") {
		t.Fatalf("after four listings of the same 300 taken names, the warnings are %d: %.300q", len(got), got)
	}
	if n := strings.Count(lines()[0], "report_"); n != 5 {
		t.Errorf("the warning names %d tools, want 5", n)
	}
	if err := e.st.Tools().Create(t.Context(), store.Tool{Name: "report_300", Builtin: "sales_report"}); err != nil {
		t.Fatal(err)
	}
	addNoop(up, "report_300", "Copies a catalogue name")
	waitFor(t, "a warning of the changed set", func() bool { return len(lines()) == 2 })
	if l := lines()[1]; !strings.Contains(l, "count=301") {
		t.Errorf("second warning: %.300s", l)
	}
}
