package slipverify

import (
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/casefold"
)

// TestFoldKeyIsEqualFold: foldKey equates exactly the names
// strings.EqualFold does (and so encoding/json's field matching), and
// agrees with internal/casefold.Key, of which it is the package's own copy
// (the gateway's schema-name check and this canonical form must refuse
// the same names).
func TestFoldKeyIsEqualFold(t *testing.T) {
	names := []string{
		"force", "Force", "FORCE", "key", "Key", "\u212aey", "scope", "SCOPE", "\u017fcope",
		"amount", "Amount", "AMOUNT", "sku", "SKU", "ſku", "kind", "\u212aind", "KIND",
		"é", "É", "e\u0301", "straße", "STRASSE", "STRAẞE", "σ", "ς", "Σ", "ǆ", "ǅ", "Ǆ", "i", "I", "İ", "ı",
		"a b", "A B", "a_b", "A-B", "", "x1", "X1", "ω", "Ω", "\u2126",
	}
	for _, x := range names {
		if foldKey(x) != casefold.Key(x) {
			t.Errorf("foldKey(%q) = %q, casefold.Key %q", x, foldKey(x), casefold.Key(x))
		}
		for _, y := range names {
			if got, want := foldKey(x) == foldKey(y), strings.EqualFold(x, y); got != want {
				t.Errorf("foldKey(%q) == foldKey(%q) is %v, strings.EqualFold %v", x, y, got, want)
			}
		}
	}
}
