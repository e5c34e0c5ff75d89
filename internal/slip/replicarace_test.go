package slip_test

// Slips raced across two replicas: two Minters, each on its own handle to
// ONE PostgreSQL database, with the tenant's keys.

import (
	"context"
	"os"
	"sync"
	"testing"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/slip"
	"github.com/gatehouse/gatehouse/internal/store/storetest"
)

func twoMinters(t *testing.T) (*fixture, *slip.Minter, *memAudit) {
	t.Helper()
	if os.Getenv("GATEHOUSE_TEST_POSTGRES") == "" {
		t.Skip("GATEHOUSE_TEST_POSTGRES is not set")
	}
	f := newFixture(t, storetest.OpenPostgres(t))
	a2 := &memAudit{}
	other := &slip.Minter{Issuer: f.m.Issuer, Keys: f.m.Keys, Store: storetest.SecondHandle(t, f.st), Audit: a2, Now: f.m.Now}
	return f, other, a2
}

func released(fns ...func()) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, fn := range fns {
		wg.Go(func() { <-start; fn() })
	}
	close(start)
	wg.Wait()
}

func countType(evs []audit.Event, jti, typ string) int {
	n := 0
	for _, e := range evs {
		if e.SlipID == jti && e.Type == typ {
			n++
		}
	}
	return n
}

func (m *memAudit) all() []audit.Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]audit.Event(nil), m.events...)
}

const rounds = 300

// One slip introspected at once by its redeemer on two replicas: exactly
// one active answer, exactly one slip.redeemed in the trail. Both an API's
// slip naming its redeemer and one naming none (which the minting replica
// knows by its form) are raced.
func TestReplicasIntrospectOnce(t *testing.T) {
	f, other, a2 := twoMinters(t)
	ctx := context.Background()
	for _, redeemer := range []string{"billing-api", ""} {
		for round := range rounds {
			tok, c, err := f.m.Mint(slip.Request{Tool: "refund", Args: []byte(`{"amount":12}`), Subject: "alice",
				Actor: agent(), Redeemer: redeemer, Correlation: "c"})
			if err != nil {
				t.Fatal(err)
			}
			const n = 8
			active := make([]bool, n)
			var fns []func()
			for i := range n {
				m := f.m
				if i%2 == 1 {
					m = other
				}
				fns = append(fns, func() {
					resp, _ := m.Introspect(ctx, tok, "billing-api", true)
					active[i] = resp["active"] == true
				})
			}
			released(fns...)
			won := 0
			for _, a := range active {
				if a {
					won++
				}
			}
			evs := append(f.audit.all(), a2.all()...)
			if won != 1 || countType(evs, c.JTI, audit.SlipRedeemed) != 1 || countType(evs, c.JTI, audit.SlipReplay) != n-1 {
				t.Fatalf("redeemer %q round %d: %d active answers, %d slip.redeemed, %d slip.replay_refused; want 1, 1, %d",
					redeemer, round, won, countType(evs, c.JTI, audit.SlipRedeemed), countType(evs, c.JTI, audit.SlipReplay), n-1)
			}
		}
	}
}

// The gateway voiding an API's slip (its call failed) on one replica while
// the API introspects it on the other: exactly one of them wins, and the
// trail says which (slip.redeemed when the API won, slip.replay_refused
// for the API's late try when the void won).
func TestReplicasVoidRacesIntrospection(t *testing.T) {
	f, other, a2 := twoMinters(t)
	ctx := context.Background()
	for round := range rounds {
		tok, c, err := f.m.Mint(slip.Request{Tool: "refund", Args: []byte(`{"amount":12}`), Subject: "alice",
			Actor: agent(), Redeemer: "billing-api", Correlation: "c"})
		if err != nil {
			t.Fatal(err)
		}
		var voided, active bool
		var verr error
		released(
			func() { voided, verr = f.m.Void(ctx, tok, &c) },
			func() {
				resp, _ := other.Introspect(ctx, tok, "billing-api", true)
				active = resp["active"] == true
			},
		)
		if verr != nil {
			t.Fatal(verr)
		}
		if voided == active {
			t.Fatalf("round %d: voided=%v and introspected active=%v: want exactly one", round, voided, active)
		}
		evs := append(f.audit.all(), a2.all()...)
		red, rep := countType(evs, c.JTI, audit.SlipRedeemed), countType(evs, c.JTI, audit.SlipReplay)
		if active && (red != 1 || rep != 0) || voided && (red != 0 || rep != 1) {
			t.Fatalf("round %d: voided=%v active=%v but the trail has %d slip.redeemed, %d slip.replay_refused", round, voided, active, red, rep)
		}
	}
}

// Void racing the executor's redemption of its own local slip (no
// RecordSpent): exactly one wins.
func TestVoidRacesRedeem(t *testing.T) {
	if os.Getenv("GATEHOUSE_TEST_POSTGRES") == "" {
		t.Skip("GATEHOUSE_TEST_POSTGRES is not set")
	}
	f := newFixture(t, storetest.OpenPostgres(t))
	ctx := context.Background()
	for round := range rounds {
		tok, c := mint(t, f, "sales_report", `{}`)
		var voided, redeemed bool
		var verr error
		released(
			func() { voided, verr = f.m.Void(ctx, tok, &c) },
			func() {
				_, err := f.m.Redeem(ctx, tok, "sales_report", []byte(`{}`))
				redeemed = err == nil
			},
		)
		if verr != nil {
			t.Fatal(verr)
		}
		if voided == redeemed {
			t.Fatalf("round %d: voided=%v redeemed=%v: want exactly one", round, voided, redeemed)
		}
	}
}
