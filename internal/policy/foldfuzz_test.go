package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/internal/casefold"
	"github.com/gatehouse/gatehouse/slipverify"
)

// FuzzFoldAgreesWithCanonical: the names a condition's case check takes
// for one (a key refused for differing only by case from a name the
// condition reads) are exactly those the gateway's canonicalizer
// (slipverify's fold) refuses as two keys of one object, and those
// strings.EqualFold equates.
func FuzzFoldAgreesWithCanonical(f *testing.F) {
	for _, p := range [][2]string{
		{"force", "Force"}, {"key", "\u212aey"}, {"scope", "\u017fcope"}, {"straße", "STRASSE"}, {"σ", "ς"},
		{"ǆ", "ǅ"}, {"i", "İ"}, {"ı", "I"}, {"ω", "\u2126"}, {"é", "e\u0301"}, {"a b", "A B"}, {"x", "x"},
	} {
		f.Add(p[0], p[1])
	}
	f.Fuzz(func(t *testing.T, x, y string) {
		if !utf8.ValidString(x) || !utf8.ValidString(y) || x == y {
			return
		}
		want := strings.EqualFold(x, y)
		if got := casefold.Key(x) == casefold.Key(y); got != want {
			t.Fatalf("casefold.Key(%q) == casefold.Key(%q) is %v, strings.EqualFold %v", x, y, got, want)
		}
		kx, _ := json.Marshal(x)
		ky, _ := json.Marshal(y)
		_, err := slipverify.Canonical([]byte(`{` + string(kx) + `:1,` + string(ky) + `:2}`))
		if refused := err != nil && strings.Contains(err.Error(), "differ only by case"); refused != want {
			t.Fatalf("canonicalizer on keys %q and %q: %v, strings.EqualFold %v", x, y, err, want)
		}
		if err != nil && !want && !errors.Is(err, slipverify.ErrNotCanonicalizable) {
			t.Fatalf("keys %q and %q: %v", x, y, err)
		}
		c, err := compileCondition(`context.args has "` + cedarEscape(x) + `"`)
		if err != nil {
			t.Fatalf("name %q: %v", x, err)
		}
		if got := c.caseVariant(map[string]any{y: true}) != ""; got != want {
			t.Fatalf("condition reading %q, key %q: refused %v, strings.EqualFold %v", x, y, got, want)
		}
	})
}

// cedarEscape writes s for a Cedar string literal.
func cedarEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= 0x20 && r < 0x7f && r != '"' && r != '\\' {
			b.WriteRune(r)
		} else {
			fmt.Fprintf(&b, `\u{%x}`, r)
		}
	}
	return b.String()
}
