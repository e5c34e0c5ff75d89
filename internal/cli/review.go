package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/internal/gateway"
	"github.com/gatehouse/gatehouse/internal/store"
)

// renderReview writes what an admin approves of an upstream tool: the
// definition served now against the approved one (renderChange).
func renderReview(w io.Writer, r gateway.ToolReview) {
	fmt.Fprintf(w, "tool %s (upstream %s)\n", safeText(r.Tool), safeText(r.Upstream))
	renderChange(w, r.PinnedHash, r.Pinned, r.LiveHash, r.Live, "the upstream offered this tool on its own")
}

// renderFeatureReview writes what an admin approves of an upstream's
// prompt or resource template, as renderReview of a tool.
func renderFeatureReview(w io.Writer, r gateway.FeatureReview) {
	fmt.Fprintf(w, "%s %s (upstream %s)\n", r.Kind, safeText(r.ID), safeText(r.Upstream))
	renderChange(w, r.PinnedHash, r.Pinned, r.LiveHash, r.Live, "")
}

// renderChange writes the upstream definition served now (liveHash, live)
// against the approved one (pinnedHash, pinned; none says why there is
// none), field by field, as a line diff. Every value is the upstream's
// text and is written as data: descriptions as quoted strings, everything
// else as JSON, with every character that is not printable (terminal
// escapes, other control and format characters such as bidirectional
// overrides) escaped, so that an upstream cannot write to the admin's
// terminal or hide text from the review.
func renderChange(w io.Writer, pinnedHash string, pinned json.RawMessage, liveHash string, live json.RawMessage, none string) {
	var old map[string]json.RawMessage
	switch {
	case pinnedHash == "":
		fmt.Fprintf(w, "  approved: none: %s\n", none)
	case pinned == nil:
		fmt.Fprintf(w, "  approved: sha256 %s (its definition was not kept: approved before definitions were)\n", safeText(pinnedHash))
	default:
		fmt.Fprintf(w, "  approved: sha256 %s\n", safeText(pinnedHash))
		if json.Unmarshal(pinned, &old) != nil {
			old = nil
		}
	}
	fmt.Fprintf(w, "  served:   sha256 %s\n", safeText(liveHash))
	var cur map[string]json.RawMessage
	if err := json.Unmarshal(live, &cur); err != nil {
		fmt.Fprintf(w, "  (the served definition is not a JSON object: %s)\n", safeText(err.Error()))
		return
	}
	keys := make([]string, 0, len(cur)+len(old))
	for k := range cur {
		keys = append(keys, k)
	}
	for k := range old {
		if _, ok := cur[k]; !ok {
			keys = append(keys, k)
		}
	}
	// The description and the input schema (a prompt's arguments, a
	// template's URI template) first: they are what a model reads and
	// what the arguments it sends must fit.
	rank := func(k string) int {
		switch k {
		case "description":
			return 0
		case "inputSchema", "arguments", "uriTemplate":
			return 1
		}
		return 2
	}
	slices.SortFunc(keys, func(a, b string) int {
		if d := rank(a) - rank(b); d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	var same []string
	for _, k := range keys {
		a, b := fieldLines(k, old[k]), fieldLines(k, cur[k])
		if old != nil && slices.Equal(a, b) {
			same = append(same, safeText(k))
			continue
		}
		fmt.Fprintf(w, "%s:\n", safeText(k))
		for _, l := range diffLines(a, b) {
			fmt.Fprintf(w, "  %s\n", l)
		}
	}
	if len(same) > 0 {
		fmt.Fprintf(w, "unchanged: %s\n", strings.Join(same, ", "))
	}
}

// fieldLines renders one field of a definition as lines of data: a
// description as one quoted string per line of text, anything else as
// indented JSON with unprintable characters escaped, and in both the
// characters a terminal draws as nothing or as a blank (variation
// selectors, Hangul fillers: store.IsHiddenRune), which strconv.Quote and
// unicode.IsPrint let through: an upstream could hide text in them that a
// model reads and the admin approving it never sees. A missing field has
// no lines.
func fieldLines(key string, raw json.RawMessage) []string {
	if raw == nil {
		return nil
	}
	var s string
	if key == "description" && json.Unmarshal(raw, &s) == nil {
		var out []string
		for _, l := range strings.Split(s, "\n") {
			out = append(out, quoteText(l))
		}
		return out
	}
	var buf bytes.Buffer
	if json.Indent(&buf, raw, "", "  ") != nil {
		return []string{safeJSON(string(raw))}
	}
	var out []string
	for _, l := range strings.Split(buf.String(), "\n") {
		out = append(out, safeJSON(l))
	}
	return out
}

// quoteText is s quoted as a Go string, with the characters
// store.IsHiddenRune names escaped too (strconv.Quote writes them as they
// are: they are letters or marks).
func quoteText(s string) string {
	return store.EscapeRunes(strconv.Quote(s), store.IsHiddenRune)
}

// safeJSON escapes, in a line of JSON, every character that is not
// printable or is drawn as nothing (store.IsHiddenRune) as a JSON \u
// escape (which means the same inside a string, and cannot occur
// elsewhere in valid JSON); bytes that are not UTF-8 are written as
// \ufffd.
func safeJSON(s string) string {
	var b strings.Builder
	for i, w := 0, 0; i < len(s); i += w {
		r, n := utf8.DecodeRuneInString(s[i:])
		w = n
		switch {
		case r == utf8.RuneError && n == 1:
			b.WriteString(`\ufffd`)
		case unicode.IsPrint(r) && !store.IsHiddenRune(r):
			b.WriteRune(r)
		case r > 0xffff:
			r1, r2 := utf16.EncodeRune(r)
			fmt.Fprintf(&b, `\u%04x\u%04x`, r1, r2)
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
	}
	return b.String()
}

// safeText is s as is when every character of it is printable, and
// quoted (with escapes) otherwise: a control character (ESC, C1 CSI, CR,
// LF, tab), a format character (a bidirectional override) or invalid
// UTF-8 cannot reach the terminal. A character a terminal draws as
// nothing or as a blank (store.IsHiddenRune) is shown as its escape.
func safeText(s string) string {
	quote := false
	for _, r := range s {
		if store.IsHiddenRune(r) {
			return strconv.QuoteToASCII(s)
		}
		if !unicode.IsPrint(r) || r == '"' || r == utf8.RuneError {
			quote = true
		}
	}
	if quote {
		return strconv.Quote(s)
	}
	return s
}

// maxDiffCells bounds the work of diffLines; beyond it the old lines are
// shown removed and the new ones added, without matching.
const maxDiffCells = 4 << 20

// diffLines is a line diff of a and b (longest common subsequence): each
// line of the result is "- " (only in a), "+ " (only in b) or "  " (in
// both) followed by the line.
func diffLines(a, b []string) []string {
	var out []string
	if len(a)*len(b) > maxDiffCells {
		for _, l := range a {
			out = append(out, "- "+l)
		}
		for _, l := range b {
			out = append(out, "+ "+l)
		}
		return out
	}
	// lcs[i][j]: length of the longest common subsequence of a[i:], b[j:].
	lcs := make([][]int, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] == b[j]:
			out = append(out, "  "+a[i])
			i++
			j++
		case lcs[i+1][j] >= lcs[i][j+1]:
			out = append(out, "- "+a[i])
			i++
		default:
			out = append(out, "+ "+b[j])
			j++
		}
	}
	for ; i < len(a); i++ {
		out = append(out, "- "+a[i])
	}
	for ; j < len(b); j++ {
		out = append(out, "+ "+b[j])
	}
	return out
}
