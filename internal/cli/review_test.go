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

// TestRenderReviewShowsCharactersDrawnAsNothing: an upstream can hide text
// in a tool's description or schema in characters a terminal draws as
// nothing or as a blank (variation selectors, which can carry any bytes
// for a model to read; a Hangul filler). The admin reviewing it must see
// them, as escapes, or approves text they never saw.
func TestRenderReviewShowsCharactersDrawnAsNothing(t *testing.T) {
	const hidden = "\ufe01\U000e0142\u3164\u115f"
	var b strings.Builder
	renderReview(&b, gateway.ToolReview{Tool: "lookup", Upstream: "crm", Status: "pending",
		LiveHash: "bb",
		Live:     []byte(`{"description":"Finds` + hidden + `","inputSchema":{"properties":{"id":{"description":"id` + hidden + `","type":"string"}},"type":"object"},"name":"lookup"}`)})
	out := b.String()
	if strings.ContainsAny(out, hidden) {
		t.Fatalf("the review shows characters drawn as nothing as they are: %q", out)
	}
	for _, want := range []string{
		`+ "Finds\ufe01\U000e0142\u3164\u115f"`,
		`"description": "id\ufe01\udb40\udd42\u3164\u115f"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("review lacks %s:\n%s", want, out)
		}
	}
}
