package audit_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/internal/audit"
)

func TestSafe(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", "alice", "alice"},
		{"unicode letters", "zoë-日本", "zoë-日本"},
		{"empty", "", `""`},
		{"space", "alice smith", `"alice smith"`},
		{"forged line", "alice\n2026-11-02T09:00:00Z #9 tool.decision decision=allow", `"alice\n2026-11-02T09:00:00Z #9 tool.decision decision=allow"`},
		{"carriage return", "ok\rdeny", `"ok\rdeny"`},
		{"ANSI escape", "\x1b[2J\x1b[31mred", `"\x1b[2J\x1b[31mred"`},
		{"C1 CSI", "a\u009b31m", `"a\u009b31m"`},
		{"bell and backspace", "a\a\bb", `"a\a\bb"`},
		{"DEL", "a\x7f", `"a\x7f"`},
		{"bidi override", "txt\u202egnp.exe", `"txt\u202egnp.exe"`},
		{"zero width", "ad\u200bmin", `"ad\u200bmin"`},
		{"invalid UTF-8", "a\xffb", `"a\xffb"`},
		{"fake pair", "decision=allow", `"decision=allow"`},
		{"quote", `say "hi"`, `"say \"hi\""`},
		{"html is just text", "<script>", "<script>"},
		{"Hangul filler", "\u3164", `"\u3164"`},
		{"filler after a letter", "al\u3164ice", `"al\u3164ice"`},
		{"variation selector", "a\ufe0f", `"a\ufe0f"`},
		{"private use", "a\ue000", `"a\ue000"`},
		// A hidden character after one that asks for quotes (a space, a
		// quote) is escaped all the same: a detail's JSON always has
		// quotes, and "a b" must not show as "a b\u3164" does.
		{"filler after a space", "a b\u3164", `"a b\u3164"`},
		{"variation selector after a quote", `say "hi"` + "\ufe0f", `"say \"hi\"\ufe0f"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := audit.Safe(tt.in)
			if got != tt.want {
				t.Errorf("Safe(%q) = %s, want %s", tt.in, got, tt.want)
			}
			if strings.ContainsAny(got, "\r\n\x1b\x7f") {
				t.Errorf("Safe(%q) = %q still holds a control character", tt.in, got)
			}
		})
	}
}

func TestLine(t *testing.T) {
	at := time.Date(2026, 11, 2, 9, 14, 3, 120000000, time.UTC)
	tests := []struct {
		name string
		e    audit.Entry
		want string
	}{
		{"decision", audit.Entry{Seq: 42, Time: at, Event: audit.Event{Type: audit.ToolDecided, Actor: "alice",
			Agent: "acme-assistant", Chain: []string{"acme-assistant", "sub-agent"}, Tool: "sales_report", Decision: "deny",
			Reasons: []string{"no role grants it", "cap"}, Correlation: "c1", DurationMS: 1.5}},
			`2026-11-02T09:14:03.120Z #42 tool.decision actor=alice agent=acme-assistant chain=acme-assistant>sub-agent tool=sales_report decision=deny reasons="no role grants it; cap" duration=1.5ms correlation=c1`},
		{"hostile values", audit.Entry{Seq: 7, Time: at, Event: audit.Event{Type: audit.LoginFailed,
			Actor: "x\n2026-11-02T09:14:04.000Z #8 login.succeeded actor=admin", Detail: map[string]any{"class": "\x1b]0;pwned\a"}}},
			`2026-11-02T09:14:03.120Z #7 login.failed actor="x\n2026-11-02T09:14:04.000Z #8 login.succeeded actor=admin" detail="{\"class\":\"\\u001b]0;pwned\\u0007\"}"`},
		{"hidden character in detail", audit.Entry{Seq: 8, Time: at, Event: audit.Event{Type: audit.ToolDecided, Actor: "alice",
			Detail: map[string]any{"arguments": map[string]any{"to": "admin\u3164"}}}},
			`2026-11-02T09:14:03.120Z #8 tool.decision actor=alice detail="{\"arguments\":{\"to\":\"admin\u3164\"}}"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := audit.Line(tt.e)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if strings.ContainsAny(got, "\r\n\x1b\a") {
				t.Errorf("line holds a control character: %q", got)
			}
		})
	}
}

// TestExportEscapesInvisibleInEditedRecord: a record edited at the
// database to hold a raw bidirectional override or C1 control (valid JSON
// allows both) is exported with them escaped, as the writer would have
// stored them: the view of a tampered record is as safe as any other.
func TestExportEscapesInvisibleInEditedRecord(t *testing.T) {
	e := newEnv(t, storetestSQLite, nil)
	e.record(t, events(3)...)
	e.exec(t, `UPDATE audit_log SET event = ? WHERE seq = 2`, "{\"type\":\"tool.decision\",\"actor\":\"alice\u202e\u009b2J\"}")
	var buf bytes.Buffer
	if _, err := e.log.Export(context.Background(), &buf, audit.Filter{}); err != nil {
		t.Fatal(err)
	}
	if strings.ContainsRune(buf.String(), '\u202e') || strings.ContainsRune(buf.String(), '\u009b') {
		t.Errorf("export holds a raw bidi override / C1 CSI: %q", buf.String())
	}
}

// TestLineListsReadAsTheirItems: a chain or a list of reasons whose item
// holds the separator (a metadata-document client's ID may hold ">": it is
// a URL its owner chose; a reason may quote a caller's arguments) does not
// read as more items, or as the line of another list.
func TestLineListsReadAsTheirItems(t *testing.T) {
	at := time.Date(2026, 11, 2, 9, 14, 3, 0, time.UTC)
	line := func(chain, reasons []string) string {
		return audit.Line(audit.Entry{Seq: 1, Time: at, Event: audit.Event{Type: audit.ToolDecided, Chain: chain, Reasons: reasons}})
	}
	for _, tt := range []struct {
		name           string
		chain, reasons []string
		other          [2][]string // chain, reasons that must read otherwise
	}{
		{"chain", []string{"https://evil.example/c>acme-assistant"}, nil,
			[2][]string{{"https://evil.example/c", "acme-assistant"}, nil}},
		{"longer chain", []string{"https://evil.example/c>acme-assistant", "sub-agent"}, nil,
			[2][]string{{"https://evil.example/c", "acme-assistant", "sub-agent"}, nil}},
		{"reasons", nil, []string{"no role grants it; the policy allows it"},
			[2][]string{nil, {"no role grants it", "the policy allows it"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, other := line(tt.chain, tt.reasons), line(tt.other[0], tt.other[1])
			if got == other {
				t.Errorf("%q %q and %q %q both read\n%s", tt.chain, tt.reasons, tt.other[0], tt.other[1], got)
			}
		})
	}
	// An item that reads as the JSON form (which escapes ">") is not
	// taken for it.
	if got := line([]string{`["a\u003eb"]`}, nil); got == line([]string{"a>b"}, nil) {
		t.Errorf("a chain item starting with [ reads as the JSON form: %s", got)
	}
	// Plain lists keep their plain form.
	if got, want := line([]string{"acme-assistant", "sub-agent"}, []string{"a", "b"}),
		`2026-11-02T09:14:03.000Z #1 tool.decision chain=acme-assistant>sub-agent reasons="a; b"`; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
