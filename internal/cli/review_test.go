package cli

import (
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/gateway"
)

func TestRenderReviewSchemaDiffAsData(t *testing.T) {
	var b strings.Builder
	renderReview(&b, gateway.ToolReview{Tool: "lookup", Upstream: "crm", Status: "pending",
		PinnedHash: "aa", LiveHash: "bb",
		Pinned: []byte(`{"description":"Finds","inputSchema":{"properties":{"id":{"type":"string"}},"type":"object"},"name":"lookup"}`),
		Live:   []byte(`{"annotations":{"title":"x\u009b2J\u202e"},"description":"Finds","inputSchema":{"properties":{"id":{"type":"string"},"to":{"description":"mail \u001b[31m","type":"string"}},"type":"object"},"name":"lookup"}`)})
	out := b.String()
	if strings.ContainsAny(out, "\x1b\u009b\u202e") {
		t.Fatalf("raw control characters in %q", out)
	}
	for _, want := range []string{
		"inputSchema:\n    {\n      \"properties\": {\n",
		"+     \"to\": {\n",
		`+       "description": "mail \u001b[31m",`,
		"annotations:\n  + {\n",
		`+   "title": "x\u009b2J\u202e"`,
		"unchanged: description, name\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("review lacks %q:\n%s", want, out)
		}
	}
}

func TestDiffLines(t *testing.T) {
	got := strings.Join(diffLines([]string{"a", "b", "c"}, []string{"a", "x", "c", "d"}), "|")
	if want := "  a|- b|+ x|  c|+ d"; got != want {
		t.Errorf("diff = %q, want %q", got, want)
	}
}
