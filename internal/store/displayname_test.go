package store_test

import (
	"testing"

	"github.com/gatehouse/gatehouse/internal/store"
)

func TestCheckDisplayName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"", true},
		{"Acme Assistant", true},
		{"Café — 日本語 — مساعد", true},
		{"👩\u200d💻 Coder", true},   // ZERO WIDTH JOINER
		{"Acme \u202eevil", false}, // RIGHT-TO-LEFT OVERRIDE
		{"Acme \u2067evil", false}, // RIGHT-TO-LEFT ISOLATE
		{"Acme\u200e", false},      // LEFT-TO-RIGHT MARK
		{"Acme\ufeff", false},      // ZERO WIDTH NO-BREAK SPACE
		{"Acme\nHelper", false},
		{"Acme\u2029", false}, // PARAGRAPH SEPARATOR
		{"Acme\xff", false},   // not UTF-8
	} {
		if got := store.CheckDisplayName(tc.name) == ""; got != tc.ok {
			t.Errorf("CheckDisplayName(%+q) passes = %v, want %v", tc.name, got, tc.ok)
		}
	}
}
