package audit

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/internal/store"
)

// Safe returns s as it may be printed to a terminal: as is when every
// character is printable and none is a space, quote, backslash or "=";
// otherwise quoted as a Go string, so CR, LF, ESC (ANSI sequences), other
// control characters, invalid UTF-8 and invisible format characters such as
// bidirectional overrides are shown escaped and cannot forge a line or
// move the cursor. The empty string is "".
func Safe(s string) string {
	if s == "" {
		return `""`
	}
	// The whole string is read before choosing: a space or a quote early
	// on asks for quotes, but strconv.Quote leaves printable characters as
	// they are, a hidden one later on among them.
	quote := false
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				quote = true
				continue
			}
		}
		if store.IsHiddenRune(r) {
			// What a terminal draws as nothing or as a blank (a Hangul
			// filler, a variation selector, a private-use or unassigned
			// code point) is shown as its escape: a name of them is not
			// blank, nor like another.
			return strconv.QuoteToASCII(s)
		}
		if r == ' ' || r == '"' || r == '\\' || r == '=' || !strconv.IsPrint(r) || unicode.Is(unicode.Cf, r) {
			quote = true
		}
	}
	if quote {
		return strconv.Quote(s)
	}
	return s
}

// Line renders an entry as one terminal line of key=value pairs, every
// value passed through Safe, for `gatehouse audit tail`:
//
//	2026-11-02T09:14:03.120Z #42 tool.decision actor=alice agent=acme-assistant tool=sales_report decision=allow …
func Line(e Entry) string {
	var b strings.Builder
	b.WriteString(e.Time.UTC().Format("2006-01-02T15:04:05.000Z07:00"))
	b.WriteString(" #")
	b.WriteString(strconv.FormatInt(e.Seq, 10))
	b.WriteByte(' ')
	b.WriteString(Safe(e.Event.Type))
	ev := e.Event
	kv := func(k, v string) {
		if v == "" {
			return
		}
		b.WriteByte(' ')
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(Safe(v))
	}
	kv("actor", ev.Actor)
	kv("agent", ev.Agent)
	if len(ev.Chain) > 0 {
		kv("chain", joined(ev.Chain, ">"))
	}
	kv("tool", ev.Tool)
	kv("decision", ev.Decision)
	kv("policy", ev.Policy)
	if len(ev.Reasons) > 0 {
		kv("reasons", joined(ev.Reasons, "; "))
	}
	kv("status", ev.Status)
	if ev.DurationMS != 0 {
		kv("duration", (time.Duration(ev.DurationMS * float64(time.Millisecond))).String())
	}
	kv("slip", ev.SlipID)
	kv("correlation", ev.Correlation)
	kv("session", ev.Session)
	kv("token", ev.TokenID)
	kv("args", ev.ArgsDigest)
	kv("remote", ev.RemoteAddr)
	if len(ev.Detail) > 0 {
		// The detail as JSON (keys sorted), then made safe as a whole.
		if raw, err := jsonString(ev.Detail); err == nil {
			kv("detail", raw)
		}
	}
	return b.String()
}

// joined is items joined by sep, or, when that would read as other items
// (an item holds sep: a metadata-document client's ID is a URL its owner
// chose, which may hold ">"; or the first starts as this form does), the
// items as a JSON array.
func joined(items []string, sep string) string {
	if !strings.HasPrefix(items[0], "[") && !slices.ContainsFunc(items, func(s string) bool { return strings.Contains(s, sep) }) {
		return strings.Join(items, sep)
	}
	raw, _ := jsonString(items)
	return raw
}

func jsonString(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}
