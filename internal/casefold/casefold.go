// Package casefold names the class of a JSON member name under Unicode
// simple case folding: the folding encoding/json matches a struct field
// to a member by, and strings.EqualFold equates. The gateway refuses
// arguments whose names a case-insensitive decoder would read otherwise
// than the gateway checked them (two members of one object that fold
// together; a member that folds with a property a schema or a condition
// reads but is not spelt as it): each check compares Key of names.
package casefold

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Key maps name to a representative of its class: each rune becomes the
// smallest rune of its folding orbit. Key(a) == Key(b) exactly when
// strings.EqualFold(a, b).
func Key(name string) string {
	ascii := true
	for i := 0; i < len(name); i++ {
		if name[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		// The smallest rune of an ASCII letter's orbit is its upper case
		// (k, K and the Kelvin sign K fold to K; s, S and ſ to S).
		return strings.ToUpper(name)
	}
	var b strings.Builder
	for _, r := range name {
		m := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			m = min(m, f)
		}
		b.WriteRune(m)
	}
	return b.String()
}
