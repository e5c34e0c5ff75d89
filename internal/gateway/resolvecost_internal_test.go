package gateway

import (
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/identity/accesstoken"
	"github.com/gatehouse/gatehouse/internal/store"
)

// TestResolveCostsNothingForAnUnsetPersonBound: resolving a person's
// caller, which every tools/call does twice (its token, its call), spends
// no allocation on limits.tool_calls_per_minute_per_person when the
// tenant sets no such bound; with it set, the person's counter still
// bounds the calls.
func TestResolveCostsNothingForAnUnsetPersonBound(t *testing.T) {
	created := time.Date(2026, 1, 2, 3, 4, 5, 678, time.UTC)
	cat := &catalogue{
		users:   map[string]store.User{"alice": {Username: "alice", CreatedAt: created}},
		clients: map[string]store.Client{"agent": {ClientID: "agent", CreatedAt: created}},
	}
	cl := &accesstoken.Claims{Subject: "alice", ClientID: "agent", GrantID: "g1", IssuedAt: created.Add(time.Hour).Unix()}
	allocs := func() float64 {
		return testing.AllocsPerRun(100, func() {
			if _, err := cat.resolve(cl); err != nil {
				t.Fatal(err)
			}
		})
	}
	unset := allocs()
	cat.personCallsPerMinute = 10
	set := allocs()
	if unset >= set {
		t.Errorf("resolving a person's caller allocates %v times without a bound per person, %v with one: the unset bound costs", unset, set)
	}
	who, err := cat.resolve(cl)
	if err != nil || who.person == "" {
		t.Fatalf("with a bound per person, the caller has no person: %+v %v", who, err)
	}
}
