package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/store/sqlite"
)

// FuzzParseCheckpoints feeds arbitrary checkpoint files (an off-box copy
// comes back from elsewhere) through ParseCheckpoints and Verify: no
// panic, and a forged checkpoint never makes a sound log fail other than
// as a checkpoint problem.
func FuzzParseCheckpoints(f *testing.F) {
	f.Add(`{"id":1,"seq":3,"hash":"ab","time":"2026-11-02T09:00:00Z","kind":"manual","jws":"e30.eyJzZXEiOjN9.AAAA"}`)
	f.Add(`{"jws":"a.b.c"}` + "\n" + `{"jws":"..."}`)
	f.Add(`{"jws":"eyJhbGciOiJFZERTQSIsImtpZCI6IngifQ.e30."}`)
	f.Add("not json")
	f.Add("")
	st, err := sqlite.Open(context.Background(), f.TempDir(), nil)
	if err != nil {
		f.Fatal(err)
	}
	defer st.Close()
	l := audit.New(st, testKeys, &audit.Options{CheckpointInterval: -1})
	defer l.Close()
	if err := l.Record(context.Background(), audit.Event{Type: audit.Logout}); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in string) {
		cps, err := audit.ParseCheckpoints(strings.NewReader(in))
		if err != nil {
			return
		}
		rep, err := l.Verify(context.Background(), &audit.VerifyOptions{Checkpoints: cps})
		if err == nil {
			return
		}
		for _, p := range rep.Problems {
			if p.Kind != audit.ProblemCheckpoint {
				t.Fatalf("forged checkpoint file %q broke the chain as %+v", in, p)
			}
		}
	})
}

// FuzzEntryJSON reads arbitrary exported lines (what a webhook receiver or
// an export reader parses): no panic, and what reads back writes again.
func FuzzEntryJSON(f *testing.F) {
	f.Add(`{"seq":1,"time":"2026-11-02T09:00:00Z","event":{"type":"logout"},"prev":"00","hash":"11"}`)
	f.Add(`{"seq":-1,"event":null}`)
	f.Add(`{"event":{"detail":{"a":[1,{"b":"\u001b"}]}}}`)
	f.Fuzz(func(t *testing.T, in string) {
		var en audit.Entry
		if json.Unmarshal([]byte(in), &en) != nil {
			return
		}
		en.Valid()
		audit.Line(en)
		b, err := json.Marshal(en)
		if err != nil {
			t.Fatalf("re-encode %q: %v", in, err)
		}
		if bytes.ContainsAny(b, "\n\r") {
			t.Fatalf("encoded entry spans lines: %q", b)
		}
	})
}
