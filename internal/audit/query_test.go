package audit_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/store/sqldb"
)

// scenario is one login and two tool calls, the way the identity and
// gateway packages record them.
func scenario() []audit.Event {
	return []audit.Event{
		{Type: audit.LoginSucceeded, Actor: "alice", Session: "s1", Correlation: "login-1"},
		{Type: audit.TokenIssued, Actor: "alice", Agent: "acme-assistant", Session: "s1", TokenID: "at-1", Correlation: "login-1"},
		{Type: audit.ToolDecided, Actor: "alice", Agent: "acme-assistant", Tool: "sales_report", Decision: "allow", Session: "s1", TokenID: "at-1", Correlation: "call-1"},
		{Type: audit.SlipMinted, Actor: "alice", Agent: "acme-assistant", Tool: "sales_report", SlipID: "slip-1", Correlation: "call-1"},
		{Type: audit.ToolResult, Actor: "alice", Agent: "acme-assistant", Tool: "sales_report", Status: "ok", Correlation: "call-1"},
		{Type: audit.ToolDecided, Actor: "alice", Agent: "acme-assistant", Tool: "payroll_report", Decision: "deny", Reasons: []string{"no role grants payroll_report"}, Correlation: "call-2"},
		{Type: audit.LoginFailed, Actor: "bob", Detail: map[string]any{"class": "bad_password"}},
	}
}

func seqsOf(es []audit.Entry) []int64 {
	out := []int64{}
	for _, e := range es {
		out = append(out, e.Seq)
	}
	return out
}

func TestQuery(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(t *testing.T) *sqldb.DB) {
		e := newEnv(t, open, nil)
		e.record(t, scenario()...) // a second apart from 09:00:00
		t0 := newClock().Now()
		tests := []struct {
			name string
			f    audit.Filter
			want []int64
		}{
			{"all", audit.Filter{}, []int64{1, 2, 3, 4, 5, 6, 7}},
			{"person", audit.Filter{Actor: "bob"}, []int64{7}},
			{"agent", audit.Filter{Agent: "acme-assistant"}, []int64{2, 3, 4, 5, 6}},
			{"tool", audit.Filter{Tool: "sales_report"}, []int64{3, 4, 5}},
			{"decision", audit.Filter{Decision: "deny"}, []int64{6}},
			{"event type", audit.Filter{Types: []string{audit.LoginSucceeded, audit.LoginFailed}}, []int64{1, 7}},
			{"one call", audit.Filter{Correlation: "call-1"}, []int64{3, 4, 5}},
			{"one session", audit.Filter{Session: "s1"}, []int64{1, 2, 3}},
			{"time range", audit.Filter{Since: t0.Add(2 * time.Second), Until: t0.Add(4 * time.Second)}, []int64{3, 4}},
			{"after cursor", audit.Filter{After: 5}, []int64{6, 7}},
			{"no match", audit.Filter{Actor: "mallory"}, []int64{}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				p, err := e.log.Query(context.Background(), tt.f)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tt.want, seqsOf(p.Entries)); diff != "" {
					t.Errorf("(-want +got):\n%s", diff)
				}
			})
		}

		// The events come back as recorded.
		p, err := e.log.Query(context.Background(), audit.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		var got []audit.Event
		for _, en := range p.Entries {
			got = append(got, en.Event)
		}
		if diff := cmp.Diff(scenario(), got); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
		if !p.Entries[2].Time.Equal(t0.Add(2 * time.Second)) {
			t.Errorf("time %v", p.Entries[2].Time)
		}

		// Pages follow the cursor to the end.
		var all []int64
		f := audit.Filter{Agent: "acme-assistant", Limit: 2}
		for pages := 0; ; pages++ {
			if pages > 5 {
				t.Fatal("pagination does not end")
			}
			p, err := e.log.Query(context.Background(), f)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, seqsOf(p.Entries)...)
			if p.Next == 0 {
				break
			}
			f.After = p.Next
		}
		if diff := cmp.Diff([]int64{2, 3, 4, 5, 6}, all); diff != "" {
			t.Errorf("paged (-want +got):\n%s", diff)
		}
	})
}

// TestExportJSONL exports, reads the lines back and re-hashes them: the
// export is a copy that can be checked on its own.
func TestExportJSONL(t *testing.T) {
	e := newEnv(t, storetestSQLite, nil)
	e.record(t, scenario()...)
	var buf bytes.Buffer
	n, err := e.log.Export(context.Background(), &buf, audit.Filter{After: 1})
	if err != nil {
		t.Fatal(err)
	}
	if n != 6 {
		t.Errorf("exported %d", n)
	}
	text := buf.String()
	sc := bufio.NewScanner(&buf)
	var got []audit.Event
	for sc.Scan() {
		var en audit.Entry
		if err := json.Unmarshal(sc.Bytes(), &en); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		if !en.Valid() {
			t.Errorf("exported record %d does not re-hash", en.Seq)
		}
		got = append(got, en.Event)
	}
	if diff := cmp.Diff(scenario()[1:], got); diff != "" {
		t.Errorf("exported events (-want +got):\n%s", diff)
	}
	// The line is one JSON object with the stored event bytes.
	first := strings.SplitN(text, "\n", 2)[0]
	for _, key := range []string{`"seq":2`, `"event":{"type":"token.issued"`, `"prev":"`, `"hash":"`, `"sig":"`} {
		if !strings.Contains(first, key) {
			t.Errorf("line %s lacks %s", first, key)
		}
	}
}

// TestExportUnreadableRecord: a record whose stored event is no longer
// JSON (edited by hand) is exported as its stored bytes, flagged, between
// the others, and still re-hashes from the copy: the evidence of the
// tampering is not what the export loses.
func TestExportUnreadableRecord(t *testing.T) {
	e := newEnv(t, storetestSQLite, nil)
	e.record(t, scenario()...)
	e.exec(t, `UPDATE audit_log SET event = ? WHERE seq = 3`, `{"type":"tool.decision","actor":"alice"`)
	var buf bytes.Buffer
	n, err := e.log.Export(context.Background(), &buf, audit.Filter{})
	if err != nil || n != int64(len(scenario())) {
		t.Fatalf("Export: %d records, %v", n, err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != len(scenario()) {
		t.Fatalf("%d lines, want %d", len(lines), len(scenario()))
	}
	if !strings.Contains(lines[2], `"event":"{\"type\":\"tool.decision\",\"actor\":\"alice\"","event_unreadable":true`) {
		t.Errorf("unreadable record exported as %s", lines[2])
	}
	var en audit.Entry
	if err := json.Unmarshal([]byte(lines[2]), &en); err != nil {
		t.Fatal(err)
	}
	if string(en.Raw) != `{"type":"tool.decision","actor":"alice"` || en.Valid() {
		t.Errorf("read back: raw %q, valid %v (want the stored bytes, not re-hashing)", en.Raw, en.Valid())
	}
	if err := json.Unmarshal([]byte(lines[3]), &en); err != nil || !en.Valid() {
		t.Errorf("the record after it: %v, valid %v", err, en.Valid())
	}
}

// TestTail shows the last records, then follows new ones as they commit.
func TestTail(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(t *testing.T) *sqldb.DB) {
		e := newEnv(t, open, &audit.Options{PollInterval: time.Hour}) // only local commits wake it
		e.record(t, scenario()...)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		got := make(chan int64, 100)
		done := make(chan error, 1)
		go func() {
			done <- e.log.Tail(ctx, audit.Filter{Actor: "alice"}, 2, true, func(en audit.Entry) error {
				got <- en.Seq
				return nil
			})
		}()
		want := []int64{5, 6}
		for _, s := range want {
			if g := <-got; g != s {
				t.Fatalf("tail gave %d, want %d", g, s)
			}
		}
		e.record(t, audit.Event{Type: audit.Logout, Actor: "bob"}, audit.Event{Type: audit.Logout, Actor: "alice"})
		if g := <-got; g != 9 {
			t.Fatalf("follow gave %d, want 9", g)
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Tail: %v", err)
		}

		// Without follow it returns; fn's error stops it.
		var seen []int64
		if err := e.log.Tail(context.Background(), audit.Filter{}, 3, false, func(en audit.Entry) error {
			seen = append(seen, en.Seq)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]int64{7, 8, 9}, seen); diff != "" {
			t.Errorf("tail -n 3 (-want +got):\n%s", diff)
		}
		stop := errors.New("stop")
		if err := e.log.Tail(context.Background(), audit.Filter{}, 3, true, func(audit.Entry) error { return stop }); !errors.Is(err, stop) {
			t.Errorf("fn error: %v", err)
		}
	})
}

// TestRecordRedactsAndCaps: secret-looking Detail values never reach the
// store, an oversized event is kept without its detail, and index values
// that PostgreSQL's text would refuse are recorded all the same.
func TestRecordRedactsAndCaps(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(t *testing.T) *sqldb.DB) {
		e := newEnv(t, open, &audit.Options{MaxEventBytes: 2048})
		ctx := context.Background()
		e.record(t,
			audit.Event{Type: audit.AdminChange, Actor: "root", Detail: map[string]any{
				"before": map[string]any{"username": "carol", "password_hash": "$argon2id$x"},
				"after":  map[string]any{"username": "carol", "client_secret": "s3cr3t-value"},
				"items":  []any{map[string]any{"refresh_token": "rt-value", "name": "x"}},
				"code":   "auth-code-value",
			}},
			audit.Event{Type: audit.ToolResult, Actor: "alice", Detail: map[string]any{"blob": strings.Repeat("x", 4096)}},
			audit.Event{Type: audit.LoginFailed, Actor: "nul\x00byte\xff" + strings.Repeat("é", 300), Detail: map[string]any{"class": "unknown_user"}},
		)
		var raw bytes.Buffer
		if _, err := e.log.Export(ctx, &raw, audit.Filter{}); err != nil {
			t.Fatal(err)
		}
		for _, secret := range []string{"$argon2id$x", "s3cr3t-value", "rt-value", "auth-code-value"} {
			if strings.Contains(raw.String(), secret) {
				t.Errorf("secret %q reached the log", secret)
			}
		}
		p, err := e.log.Query(ctx, audit.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		if d := p.Entries[0].Event.Detail; d["code"] != audit.Redacted || d["after"].(map[string]any)["username"] != "carol" {
			t.Errorf("redacted detail %+v", d)
		}
		if d := p.Entries[1].Event.Detail; d["truncated"] != true {
			t.Errorf("oversized detail %+v", d)
		}
		if a := p.Entries[2].Event.Actor; !strings.HasPrefix(a, "nul\x00byte") {
			t.Errorf("actor not kept in the event: %q", a)
		}
		if _, err := e.log.Verify(ctx, nil); err != nil {
			t.Fatal(err)
		}
		if err := e.log.Record(ctx, audit.Event{}); err == nil {
			t.Errorf("an event without a type was recorded")
		}
	})
}
