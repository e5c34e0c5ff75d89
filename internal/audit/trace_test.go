package audit_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/store/sqldb"
)

// A tool call's trace: the sign-in of its token's session, the token's
// issuance, then the call's own records; nothing of other calls, tokens
// or sessions, however many records lie between.
func TestTrace(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(t *testing.T) *sqldb.DB) {
		e := newEnv(t, open, nil)
		ctx := context.Background()
		call := func(corr, session, token, actor, agent string) []audit.Event {
			var out []audit.Event
			for _, typ := range []string{audit.ToolDecided, audit.SlipMinted, audit.SlipRedeemed, audit.ToolResult} {
				out = append(out, audit.Event{Type: typ, Correlation: corr, Session: session, TokenID: token,
					Actor: actor, Agent: agent, Tool: "sales_report"})
			}
			return out
		}
		e.record(t,
			audit.Event{Type: audit.LoginSucceeded, Session: "s1", Actor: "alice"},
			audit.Event{Type: audit.LoginSucceeded, Session: "s0", Actor: "alice"},
			audit.Event{Type: audit.TokenIssued, Session: "s1", TokenID: "t1", Actor: "alice", Agent: "assistant"},
			audit.Event{Type: audit.TokenIssued, Session: "s0", TokenID: "t0", Actor: "alice", Agent: "assistant"},
			audit.Event{Type: audit.LoginSucceeded, Session: "s2", Actor: "bob"},
		)
		// Many of alice's token records between her sign-in and the call:
		// the backwards reading goes over several pages.
		var noise []audit.Event
		for i := range 1200 {
			noise = append(noise, audit.Event{Type: audit.TokenRefreshed, Session: "s1", TokenID: fmt.Sprintf("n%d", i), Actor: "alice", Agent: "assistant"})
		}
		if err := e.log.RecordAll(ctx, noise...); err != nil {
			t.Fatal(err)
		}
		e.record(t, audit.Event{Type: audit.TokenRefreshed, Session: "s1", TokenID: "t1b", Actor: "alice", Agent: "assistant"})
		e.record(t, call("c0", "s0", "t0", "alice", "assistant")...)
		e.record(t, call("c1", "s1", "t1b", "alice", "assistant")...)
		// A machine token: no person, no session.
		e.record(t, audit.Event{Type: audit.TokenIssued, TokenID: "t9", Agent: "billing"})
		e.record(t, call("c9", "", "t9", "", "billing")...)
		// As the gateway records a machine token's call: its subject, the
		// client, as actor.
		e.record(t, audit.Event{Type: audit.TokenIssued, TokenID: "t8", Agent: "billing"})
		e.record(t, call("c8", "", "t8", "billing", "billing")...)

		for _, tt := range []struct {
			corr string
			want []string // type:session:token
		}{
			{"c1", []string{"login.succeeded:s1:", "token.refreshed:s1:t1b", "tool.decision:s1:t1b", "slip.minted:s1:t1b", "slip.redeemed:s1:t1b", "tool.result:s1:t1b"}},
			{"c0", []string{"login.succeeded:s0:", "token.issued:s0:t0", "tool.decision:s0:t0", "slip.minted:s0:t0", "slip.redeemed:s0:t0", "tool.result:s0:t0"}},
			{"c9", []string{"token.issued::t9", "tool.decision::t9", "slip.minted::t9", "slip.redeemed::t9", "tool.result::t9"}},
			{"c8", []string{"token.issued::t8", "tool.decision::t8", "slip.minted::t8", "slip.redeemed::t8", "tool.result::t8"}},
			{"unknown", nil},
			{"", nil},
		} {
			got, err := e.log.Trace(ctx, tt.corr)
			if err != nil {
				t.Fatal(err)
			}
			var seen []string
			for i, en := range got {
				seen = append(seen, en.Event.Type+":"+en.Event.Session+":"+en.Event.TokenID)
				if i > 0 && got[i-1].Seq >= en.Seq {
					t.Errorf("%s: not oldest first", tt.corr)
				}
			}
			if !slices.Equal(seen, tt.want) {
				t.Errorf("Trace(%q) =\n%q\nwant\n%q", tt.corr, seen, tt.want)
			}
		}
	})
}

// TestTraceReadsEveryPage: a call with more records than a page (an
// upstream that asked many questions: a tool.input for each answer) is
// traced whole, its tool.result last.
func TestTraceReadsEveryPage(t *testing.T) {
	e := newEnv(t, storetestSQLite, nil)
	ctx := context.Background()
	evs := []audit.Event{{Type: audit.ToolDecided, Correlation: "c1", Actor: "alice", Tool: "t", Decision: "allow"}}
	for i := range 1000 {
		evs = append(evs, audit.Event{Type: audit.ToolInput, Correlation: "c1", Actor: "alice", Tool: "t", Detail: map[string]any{"n": i}})
	}
	evs = append(evs, audit.Event{Type: audit.ToolResult, Correlation: "c1", Actor: "alice", Tool: "t", Status: "ok"})
	if err := e.log.RecordAll(ctx, evs...); err != nil {
		t.Fatal(err)
	}
	got, err := e.log.Trace(ctx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(evs) || got[len(got)-1].Event.Type != audit.ToolResult {
		t.Errorf("Trace returned %d records, want %d ending with the tool.result", len(got), len(evs))
	}
}
