package store_test

import (
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/store"
)

// TestCheckDisplayNameInvisible: a name must show. Default-ignorable code
// points (some of them letters or marks by category), spaces other than
// U+0020, private-use and unassigned code points are refused, and so is a
// name of nothing but spaces and marks; each refusal names the code point.
func TestCheckDisplayNameInvisible(t *testing.T) {
	for _, tc := range []struct {
		name string
		want string // in the message; "" when the name passes
	}{
		// What shows passes, in any script, with its marks and joiners.
		{"Acme Assistant", ""},
		{"Ünïcødé", ""},
		{"e\u0301clair", ""}, // COMBINING ACUTE ACCENT
		{"हिन्दी", ""},
		{"می\u200cخواهم", ""}, // ZERO WIDTH NON-JOINER
		{"👩\u200d💻", ""},
		{"$", ""},
		{"42", ""},
		{"«»", ""},

		// Blank: only spaces, marks or joiners.
		{" ", "show as blank"},
		{"   ", "show as blank"},
		{"\u0301\u0301", "show as blank"},
		{"\u200d", "show as blank"},

		// Default-ignorable, whatever their category.
		{"\u3164", "U+3164"}, // HANGUL FILLER (Lo)
		{"\u3164\u3164\u3164", "U+3164"},
		{"Acme\u3164", "U+3164"},
		{"Acme\u115f", "U+115F"}, // HANGUL CHOSEONG FILLER (Lo)
		{"Acme\u1160", "U+1160"}, // HANGUL JUNGSEONG FILLER (Lo)
		{"Acme\uffa0", "U+FFA0"}, // HALFWIDTH HANGUL FILLER (Lo)
		{"Ac\u034fme", "U+034F"}, // COMBINING GRAPHEME JOINER (Mn)
		{"Acme\ufe0f", "U+FE0F"}, // VARIATION SELECTOR-16 (Mn)
		{"Acme\ufe00", "U+FE00"},
		{"Acme\U000E0100", "U+E0100"}, // VARIATION SELECTOR-17 (Mn)
		{"Acme\U000E01EF", "U+E01EF"},
		{"Acme\u17b4", "U+17B4"}, // KHMER VOWEL INHERENT AQ (Mn)
		{"Acme\u180b", "U+180B"}, // MONGOLIAN FREE VARIATION SELECTOR ONE (Mn)
		{"Acme\u180e", "U+180E"}, // MONGOLIAN VOWEL SEPARATOR
		{"Acme\u00ad", "U+00AD"}, // SOFT HYPHEN
		{"Acme\u061c", "U+061C"}, // ARABIC LETTER MARK
		{"Acme\u200b", "U+200B"}, // ZERO WIDTH SPACE
		{"Acme\u2060", "U+2060"}, // WORD JOINER
		{"Acme\u2065", "U+2065"}, // unassigned, yet default-ignorable
		{"Acme\ufff0", "U+FFF0"},
		{"Acme\U0001BCA0", "U+1BCA0"},
		{"Acme\U0001D173", "U+1D173"},
		{"Acme\U000E0001", "U+E0001"}, // LANGUAGE TAG
		{"Acme\U000E0041", "U+E0041"}, // TAG LATIN CAPITAL LETTER A
		{"Acme\U000E0FFF", "U+E0FFF"},

		// Spaces other than U+0020, separators, controls and formats.
		{"Acme\u00a0Helper", "U+00A0"}, // NO-BREAK SPACE
		{"Acme\u3000Helper", "U+3000"}, // IDEOGRAPHIC SPACE
		{"Acme\u2007Helper", "U+2007"}, // FIGURE SPACE
		{"Acme\u2028Helper", "U+2028"},
		{"Acme\tHelper", "U+0009"},
		{"Acme\u0600", "U+0600"}, // ARABIC NUMBER SIGN: a format character, not default-ignorable

		// Private use and unassigned.
		{"Acme\ue000", "private-use character U+E000"},
		{"Acme\U000F0000", "private-use character U+F0000"},
		{"Acme\u0378", "unassigned code point U+0378"},
		{"Acme\U0010FFFF", "U+10FFFF"},
	} {
		got := store.CheckDisplayName(tc.name)
		switch {
		case tc.want == "" && got != "":
			t.Errorf("CheckDisplayName(%+q) = %q, want it to pass", tc.name, got)
		case tc.want != "" && !strings.Contains(got, tc.want):
			t.Errorf("CheckDisplayName(%+q) = %q, want a refusal naming %q", tc.name, got, tc.want)
		}
	}
}

// TestIsHiddenRuneMatchesCheckDisplayName: the pages drop exactly the
// characters registration refuses.
func TestIsHiddenRuneMatchesCheckDisplayName(t *testing.T) {
	for r := rune(0); r <= 0x10ffff; r++ {
		if r >= 0xd800 && r <= 0xdfff {
			continue // not representable in UTF-8
		}
		refused := store.CheckDisplayName("A"+string(r)) != ""
		if hidden := store.IsHiddenRune(r); hidden != refused {
			t.Fatalf("%U: IsHiddenRune = %v, CheckDisplayName refuses it: %v", r, hidden, refused)
		}
	}
}
