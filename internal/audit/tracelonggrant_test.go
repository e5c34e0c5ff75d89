package audit_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/gatehouse/gatehouse/internal/audit"
)

// TestTraceFindsTheSignInOfALongGrant: a grant with offline_access lasts
// 90 days, its agent refreshing every 10 minutes, and the person has other
// agents doing the same: tens of thousands of their token records lie
// between the sign-in and a call weeks later. The call's trace still
// begins with the sign-in its token's session came from; reading the
// person's records back record by record, it stopped at a bound and left
// the sign-in out, so the admin saw a call with no login behind it.
func TestTraceFindsTheSignInOfALongGrant(t *testing.T) {
	e := newEnv(t, storetestSQLite, nil)
	ctx := context.Background()
	e.record(t,
		audit.Event{Type: audit.LoginSucceeded, Session: "s1", Actor: "alice"},
		audit.Event{Type: audit.TokenIssued, Session: "s1", TokenID: "t0", Actor: "alice", Agent: "assistant"},
		audit.Event{Type: audit.LoginSucceeded, Session: "s2", Actor: "alice"},
	)
	noise := make([]audit.Event, 0, 1000)
	for i := range 12_000 {
		session, agent := "s1", "assistant"
		if i%2 == 1 {
			session, agent = "s2", "researcher"
		}
		noise = append(noise, audit.Event{Type: audit.TokenRefreshed, Session: session, TokenID: fmt.Sprintf("n%d", i), Actor: "alice", Agent: agent})
		if len(noise) == cap(noise) {
			if err := e.log.RecordAll(ctx, noise...); err != nil {
				t.Fatal(err)
			}
			noise = noise[:0]
		}
	}
	e.record(t,
		audit.Event{Type: audit.TokenRefreshed, Session: "s1", TokenID: "t1", Actor: "alice", Agent: "assistant"},
		audit.Event{Type: audit.ToolDecided, Correlation: "c1", Session: "s1", TokenID: "t1", Actor: "alice", Agent: "assistant", Decision: "allow"},
		audit.Event{Type: audit.ToolResult, Correlation: "c1", Session: "s1", TokenID: "t1", Actor: "alice", Agent: "assistant", Status: "ok"},
	)
	got, err := e.log.Trace(ctx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	for _, en := range got {
		seen = append(seen, en.Event.Type+":"+en.Event.Session+":"+en.Event.TokenID)
	}
	want := []string{"login.succeeded:s1:", "token.refreshed:s1:t1", "tool.decision:s1:t1", "tool.result:s1:t1"}
	if !slices.Equal(seen, want) {
		t.Errorf("Trace = %q, want %q", seen, want)
	}
}
