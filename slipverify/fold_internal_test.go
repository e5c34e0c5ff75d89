package slipverify

import (
	"strings"
	"testing"
)

// TestFoldIsEqualFold: fold equates exactly the names strings.EqualFold
// does (and so encoding/json's field matching). internal/policy mirrors
// fold to refuse a key that differs only by case from a name a condition
// reads, and pins its copy to strings.EqualFold the same way.
func TestFoldIsEqualFold(t *testing.T) {
	names := []string{
		"force", "Force", "FORCE", "key", "Key", "\u212aey", "scope", "SCOPE", "\u017fcope",
		"é", "É", "e\u0301", "straße", "STRASSE", "STRAẞE", "σ", "ς", "Σ", "ǆ", "ǅ", "Ǆ", "i", "I", "İ", "ı",
		"a b", "A B", "", "x1", "X1", "ω", "Ω", "\u2126",
	}
	for _, x := range names {
		for _, y := range names {
			if got, want := fold(x) == fold(y), strings.EqualFold(x, y); got != want {
				t.Errorf("fold(%q) == fold(%q) is %v, strings.EqualFold %v", x, y, got, want)
			}
		}
	}
}
