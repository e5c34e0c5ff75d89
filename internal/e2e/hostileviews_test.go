package e2e_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/cli"
	"github.com/gatehouse/gatehouse/internal/e2e"
	"github.com/gatehouse/gatehouse/internal/store"
)

// hostile is every kind of value that could forge a line, change a
// terminal or read as another value, in one string: line breaks of every
// sort, an ANSI colour, an OSC 8 hyperlink, a title change, a C1 CSI, a
// right-to-left override, NUL, markup, a Hangul filler, invalid UTF-8.
const hostile = "x\n2026-11-02T09:00:00.000Z #1 login.succeeded actor=admin\r\u2028\u2029\u0085" +
	"\x1b[31mred\x1b]8;;http://evil.example\x1b\\link\x1b]8;;\x1b\\\x1b]0;title\a\u009b2J" +
	"\u202egnp.exe\x00<script>alert(1)</script>\u3164\xff\xfe"

// hostileViewProblem says what in out (one view's output of records,
// records lines in all) a terminal would act on or a reader would take
// for more or other records, or "". A text view (not JSON) must not hold
// a character a terminal draws as nothing either (store.IsHiddenRune):
// there, "admin" and "admin\u3164" would read the same.
func hostileViewProblem(out string, records int, text bool) string {
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != records {
		return fmt.Sprintf("holds %d lines for %d records", len(lines), records)
	}
	if !utf8.ValidString(out) {
		return "holds invalid UTF-8"
	}
	for _, r := range out {
		switch {
		case r == '\n':
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f):
			return fmt.Sprintf("holds the control character %U", r)
		case unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp):
			return fmt.Sprintf("holds the format or separator character %U", r)
		case text && r != ' ' && store.IsHiddenRune(r):
			return fmt.Sprintf("holds the hidden character %U", r)
		}
	}
	return ""
}

// TestHostileValuesInEveryAuditView: values a caller chooses (tool
// arguments kept with audit.raw_arguments, argument names, a tool name, a
// registering client's name and redirect URIs) are data in every
// view of the trail: 'audit tail', 'audit trace' and their --json,
// 'audit export' and the admin API. None makes a record two, none reaches
// a terminal as a control, format or line-separator character, the JSON
// stays valid with markup escaped, and the JSON keeps the value.
func TestHostileValuesInEveryAuditView(t *testing.T) {
	g := e2e.Start(t, adminTenant+"audit:\n  raw_arguments: true\n", nil)
	root := adminToken(t, g, "root", "root-e2e-password")
	token := mcpToken(t, g, "alice", "alice-e2e-password")
	ctx := t.Context()

	// A client registering itself with a control or format character in
	// its name or redirect URI is refused; markup and percent-escapes are
	// taken, and are then in the trail's client.registered record.
	for _, r := range []struct {
		doc    string
		status int
	}{
		{`{"redirect_uris":["http://127.0.0.1:9/cb"],"client_name":` + jsonQuote(hostile) + `}`, http.StatusBadRequest},
		{`{"redirect_uris":[` + jsonQuote("http://127.0.0.1:9/cb?"+hostile) + `]}`, http.StatusBadRequest},
		{`{"redirect_uris":["http://127.0.0.1:9/cb?q=<script>&r=%1b%5b31m%e2%80%ae"],"client_name":"<script>alert(1)</script>"}`, http.StatusCreated},
	} {
		resp, err := http.Post(g.URL+"/register", "application/json", strings.NewReader(r.doc))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != r.status {
			t.Errorf("register %s: %d, want %d", r.doc, resp.StatusCode, r.status)
		}
	}

	cs := mcpConnect(ctx, t, g, "gatehouse-e2e-hostile", token)
	defer cs.Close()
	for _, call := range []struct {
		name string
		args map[string]any
	}{
		{"sales_report", map[string]any{"month": hostile}},
		{"sales_report", map[string]any{"month": "2025-11", hostile: hostile}},
		{"sales_report", map[string]any{"month": strings.Repeat(hostile, 2000)}},
		// The client sends a tool's name in a header too, where Go's
		// HTTP client refuses the C0 controls: the rest of the value.
		{"tool " + strings.Map(func(r rune) rune {
			if r < 0x20 || r == 0x7f {
				return -1
			}
			return r
		}, hostile), map[string]any{"month": "2025-11"}},
	} {
		if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: call.name, Arguments: call.args}); err != nil {
			t.Fatalf("call %q: %v", call.name, err)
		}
	}

	// The records to look at: every one, and one call's story.
	var all bytes.Buffer
	cliRun(t, &all, "audit", "export", "--data", g.Data)
	records := strings.Count(all.String(), "\n")
	var corr string
	for l := range strings.Lines(all.String()) {
		var e audit.Entry
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("export line %q: %v", l, err)
		}
		if e.Event.Type == audit.ToolDecided && corr == "" {
			corr = e.Event.Correlation
		}
	}
	if corr == "" {
		t.Fatalf("no tool.decision in the trail:\n%s", all.String())
	}
	var traced bytes.Buffer
	cliRun(t, &traced, "audit", "trace", corr, "--json", "--data", g.Data)
	traceRecords := strings.Count(traced.String(), "\n")
	if !strings.Contains(all.String(), `\u003cscript\u003e`) || !strings.Contains(all.String(), `\u202e`) {
		t.Fatalf("the trail holds none of the hostile values (nothing tested):\n%s", all.String())
	}

	for _, v := range []struct {
		name    string
		args    []string
		records int
		json    bool
	}{
		{"audit export", []string{"audit", "export"}, records, true},
		{"audit tail", []string{"audit", "tail", "-n", "1000"}, records, false},
		{"audit tail --json", []string{"audit", "tail", "-n", "1000", "--json"}, records, true},
		{"audit trace", []string{"audit", "trace", corr}, traceRecords, false},
		{"audit trace --json", []string{"audit", "trace", corr, "--json"}, traceRecords, true},
	} {
		var out bytes.Buffer
		cliRun(t, &out, append(v.args, "--data", g.Data)...)
		if p := hostileViewProblem(out.String(), v.records, !v.json); p != "" {
			t.Errorf("%s %s:\n%s", v.name, p, out.String())
		}
		if v.json {
			checkHostileJSONLines(t, v.name, out.String())
		}
	}

	// The admin API: JSON, markup escaped, one record per entry.
	for _, path := range []string{"/admin/api/audit?limit=1000", "/admin/api/audit/trace?correlation=" + corr} {
		var page adminPage
		status, body := adminDo(t, g, "GET", root, path, &page)
		if status != 200 {
			t.Fatalf("%s: %d %s", path, status, body)
		}
		if p := hostileViewProblem(strings.TrimSpace(body[strings.Index(body, "{"):]), 1, false); p != "" {
			t.Errorf("admin API %s %s", path, p)
		}
		if strings.Contains(body, "<") {
			t.Errorf("admin API %s holds markup unescaped", path)
		}
	}
}

// checkHostileJSONLines checks that every line of a JSON view is a valid
// record with markup escaped, and that the hostile value, as far as it is
// valid UTF-8, is there as data.
func checkHostileJSONLines(t *testing.T, view, out string) {
	t.Helper()
	kept := false
	want := strings.TrimSuffix(hostile, "\xff\xfe") // JSON holds U+FFFD for invalid UTF-8
	for l := range strings.Lines(out) {
		if strings.Contains(l, "<") {
			t.Errorf("%s: markup unescaped: %s", view, l)
		}
		var e audit.Entry
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Errorf("%s: %v: %s", view, err, l)
			continue
		}
		if strings.Contains(string(e.Raw), "month") {
			var ev map[string]any
			json.Unmarshal(e.Raw, &ev)
			b, _ := json.Marshal(ev)
			var back map[string]any
			json.Unmarshal(b, &back)
			if strings.Contains(flatten(back), want) {
				kept = true
			}
		}
	}
	if !kept && strings.Contains(view, "export") {
		t.Errorf("%s: no record keeps the hostile value as data", view)
	}
}

// flatten is every string in v, keys included, one after another.
func flatten(v any) string {
	var b strings.Builder
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			b.WriteString(x)
			b.WriteByte(0)
		case map[string]any:
			for k, e := range x {
				b.WriteString(k)
				b.WriteByte(0)
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	return b.String()
}

func jsonQuote(s string) string { b, _ := json.Marshal(s); return string(b) }

// cliRun runs gatehouse with args, its standard output to out.
func cliRun(t *testing.T, out *bytes.Buffer, args ...string) {
	t.Helper()
	var stderr bytes.Buffer
	env := &cli.Env{Stdout: out, Stderr: &stderr, Stdin: strings.NewReader(""), Getenv: func(string) string { return "" }}
	if code := cli.Run(env, args); code != 0 {
		t.Fatalf("gatehouse %s: exit %d: %s", strings.Join(args, " "), code, stderr.String())
	}
}
