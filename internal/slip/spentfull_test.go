package slip_test

import (
	"context"
	"testing"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/slip"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/storetest"
)

// crowding is a trail whose commit is followed, before RecordSpent goes
// on, by other calls' slips: enough to fill the Minter's memory of its
// own slips, as many calls at once would.
type crowding struct {
	audit.MarkingRecorder
	crowd func()
}

func (c crowding) RecordAllMarking(ctx context.Context, m store.Marker, events ...audit.Event) error {
	err := c.MarkingRecorder.RecordAllMarking(ctx, m, events...)
	c.crowd()
	return err
}

// TestSpentSlipKeptThroughAFullMemory: a call whose allow spent its slip
// runs, even when the Minter's memory of its own slips filled up and
// dropped that slip between the commit and its being marked spent.
// Before, the executor then verified it in full, found the marker the
// allow had just written, and refused the person's call as a replay.
func TestSpentSlipKeptThroughAFullMemory(t *testing.T) {
	defer slip.SetMaxOwnSlips(4)()
	const args = `{"month":"2026-10"}`
	st := storetest.OpenSQLite(t)
	f := newFixture(t, st)
	log := audit.New(st, f.keys, nil)
	t.Cleanup(func() { log.Close() })
	ctx := context.Background()

	tok, c := mint(t, f, "sales_report", args)
	rec := crowding{MarkingRecorder: log, crowd: func() {
		for range 8 {
			mint(t, f, "sales_report", args)
		}
	}}
	spent, err := f.m.RecordSpent(ctx, rec, tok, &c, callEvents(c)...)
	if err != nil || !spent {
		t.Fatalf("RecordSpent = %v, %v", spent, err)
	}
	if _, err := f.m.RedeemQueued(ctx, tok, "sales_report", []byte(args)); err != nil {
		t.Fatalf("the call's own redemption: %v", err)
	}
	if got := f.audit.types(); len(got) != 0 {
		t.Errorf("recorded %v, want nothing (no replay)", got)
	}
}

// TestSpentSlipKeptThroughCallsMintedBeforeItRuns: the same call, when
// the memory fills up after its slip was marked spent but before the
// executor redeems it (other calls minting their slips meanwhile, as many
// at once do): making room must not drop a spent slip, which its call is
// about to take. Before, it was dropped at random like any other, and
// the person's authorized call was refused as a replay of itself.
func TestSpentSlipKeptThroughCallsMintedBeforeItRuns(t *testing.T) {
	defer slip.SetMaxOwnSlips(4)()
	const args = `{"month":"2026-10"}`
	st := storetest.OpenSQLite(t)
	f := newFixture(t, st)
	log := audit.New(st, f.keys, nil)
	t.Cleanup(func() { log.Close() })
	ctx := context.Background()

	tok, c := mint(t, f, "sales_report", args)
	spent, err := f.m.RecordSpent(ctx, log, tok, &c, callEvents(c)...)
	if err != nil || !spent {
		t.Fatalf("RecordSpent = %v, %v", spent, err)
	}
	for range 64 { // each past the bound drops one at random
		mint(t, f, "sales_report", args)
	}
	if _, err := f.m.RedeemQueued(ctx, tok, "sales_report", []byte(args)); err != nil {
		t.Fatalf("the call's own redemption: %v", err)
	}
	if got := f.audit.types(); len(got) != 0 {
		t.Errorf("recorded %v, want nothing (no replay)", got)
	}
}
