// Package clip cuts text that others chose (a tool's name, a request's
// path, an upstream's error) to a size fit for answers, logs and the audit
// trail: a request or an upstream can send megabytes of it.
package clip

import (
	"strings"
	"unicode/utf8"
)

// String returns s as valid UTF-8 (each invalid byte run a U+FFFD) and,
// past max bytes, its first whole characters within max bytes and "…";
// cut reports the latter.
func String(s string, max int) (short string, cut bool) {
	if len(s) > max {
		n := max
		for i := 1; i < utf8.UTFMax && n > 0 && !utf8.RuneStart(s[n]); i++ {
			n--
		}
		s, cut = s[:n], true
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	if cut {
		s += "…"
	}
	return s, cut
}
