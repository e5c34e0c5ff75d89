package casefold

import (
	"strings"
	"testing"
)

// TestKeyIsEqualFold: Key equates exactly the names strings.EqualFold
// does (and so encoding/json's field matching).
func TestKeyIsEqualFold(t *testing.T) {
	names := []string{
		"force", "Force", "FORCE", "key", "Key", "\u212aey", "scope", "SCOPE", "\u017fcope",
		"amount", "Amount", "AMOUNT", "sku", "SKU", "ſku", "kind", "\u212aind", "KIND",
		"é", "É", "e\u0301", "straße", "STRASSE", "STRAẞE", "σ", "ς", "Σ", "ǆ", "ǅ", "Ǆ", "i", "I", "İ", "ı",
		"a b", "A B", "a_b", "A-B", "", "x1", "X1", "ω", "Ω", "\u2126",
	}
	for _, x := range names {
		for _, y := range names {
			if got, want := Key(x) == Key(y), strings.EqualFold(x, y); got != want {
				t.Errorf("Key(%q) == Key(%q) is %v, strings.EqualFold %v", x, y, got, want)
			}
		}
	}
}
