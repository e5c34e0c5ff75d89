package slip_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/slip"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/storetest"
	"github.com/gatehouse/gatehouse/slipverify"
)

// callEvents are the gateway's records of an allowed call, before it runs.
func callEvents(c slipverify.Claims) []audit.Event {
	return []audit.Event{
		{Type: audit.ToolDecided, Decision: "allow", Actor: "alice", Tool: "sales_report", Correlation: c.Transaction, SlipID: c.JTI, Session: "sess-1", TokenID: "tok-1"},
		{Type: audit.SlipMinted, Actor: "alice", Tool: "sales_report", Correlation: c.Transaction, SlipID: c.JTI, Session: "sess-1", TokenID: "tok-1"},
	}
}

// An own slip spent with its allow: decision, minting and redemption in
// one commit with the single-use marker; the executor's redemption takes
// it without a write, and every other use is refused, on any replica.
func TestRecordSpent(t *testing.T) {
	const args = `{"month":"2026-10"}`
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			st := b.Open(t)
			f := newFixture(t, st)
			log := audit.New(st, f.keys, nil)
			t.Cleanup(func() { log.Close() })
			ctx := context.Background()

			tok, c := mint(t, f, "sales_report", args)
			spent, err := f.m.RecordSpent(ctx, log, tok, &c, callEvents(c)...)
			if err != nil || !spent {
				t.Fatalf("RecordSpent = %v, %v", spent, err)
			}
			recs, err := st.AuditRecords(ctx, store.AuditFilter{})
			if err != nil {
				t.Fatal(err)
			}
			var types []string
			for _, r := range recs {
				types = append(types, r.Type)
			}
			if want := []string{audit.ToolDecided, audit.SlipMinted, audit.SlipRedeemed}; !slices.Equal(types, want) {
				t.Fatalf("records %v, want %v", types, want)
			}
			// The redemption belongs to the call's login session too.
			if recs[2].Session != "sess-1" || recs[2].Correlation != c.Transaction {
				t.Errorf("slip.redeemed: session %q, correlation %q", recs[2].Session, recs[2].Correlation)
			}
			// One commit: one time, one signed checkpoint on its last record.
			if recs[0].Time != recs[2].Time || recs[0].Sig != "" || recs[1].Sig != "" || recs[2].Sig == "" {
				t.Errorf("not one batch: %+v", recs)
			}
			// The marker is in the database, for every replica.
			for _, h := range []store.Consumer{st, storetest.SecondHandle(t, st)} {
				if first, err := h.Consume(ctx, slip.ConsumeKind, c.JTI, f.m.Marker(&c).Expires); err != nil || first {
					t.Errorf("Consume after RecordSpent: first=%v, %v", first, err)
				}
			}

			// The executor here: no write, no record of its own.
			if _, err := f.m.RedeemQueued(ctx, tok, "sales_report", []byte(args)); err != nil {
				t.Fatalf("RedeemQueued: %v", err)
			}
			if got := f.audit.types(); len(got) != 0 {
				t.Errorf("the executor recorded %v", got)
			}
			// Anyone after it, here or elsewhere: refused, and recorded.
			other := &slip.Minter{Issuer: f.m.Issuer, Keys: f.m.Keys, Store: st, Audit: &memAudit{}, Now: f.m.Now}
			// (There a local slip is not even valid.)
			if _, err := f.m.Redeem(ctx, tok, "sales_report", []byte(args)); !errors.Is(err, slipverify.ErrUsed) {
				t.Errorf("Redeem here = %v, want ErrUsed", err)
			}
			if _, err := other.Redeem(ctx, tok, "sales_report", []byte(args)); !errors.Is(err, slipverify.ErrInvalid) {
				t.Errorf("Redeem on another replica = %v, want ErrInvalid", err)
			}
			if resp, _ := other.Introspect(ctx, tok, "billing-api", true); resp["active"] != false {
				t.Errorf("introspected active after it was spent")
			}
			// An introspection of a spent slip before its executor runs
			// neither runs it nor keeps the executor from running it.
			tokI, cI := mint(t, f, "sales_report", args)
			if _, err := f.m.RecordSpent(ctx, log, tokI, &cI, callEvents(cI)...); err != nil {
				t.Fatal(err)
			}
			if resp, _ := f.m.Introspect(ctx, tokI, "random-app", false); resp["active"] != false {
				t.Errorf("introspected a spent local slip active")
			}
			if _, err := f.m.RedeemQueued(ctx, tokI, "sales_report", []byte(args)); err != nil {
				t.Errorf("the executor's redemption after an introspection = %v", err)
			}
			if got := f.audit.types(); !slices.Equal(got, []string{"slip.replay_refused:refused", "slip.replay_refused:local"}) {
				t.Errorf("audit here %v", got)
			}

			// Many executors racing for one spent slip: one runs.
			tok2, c2 := mint(t, f, "sales_report", args)
			if _, err := f.m.RecordSpent(ctx, log, tok2, &c2, callEvents(c2)...); err != nil {
				t.Fatal(err)
			}
			if wins := race(t, 16, func() error {
				_, err := f.m.RedeemQueued(ctx, tok2, "sales_report", []byte(args))
				return err
			}); wins != 1 {
				t.Errorf("%d redemptions of a spent slip ran, want 1", wins)
			}
			// Arguments other than the slip's are refused before anything.
			tok3, c3 := mint(t, f, "sales_report", args)
			if _, err := f.m.RecordSpent(ctx, log, tok3, &c3, callEvents(c3)...); err != nil {
				t.Fatal(err)
			}
			if _, err := f.m.RedeemQueued(ctx, tok3, "sales_report", []byte(`{"month":"2026-11"}`)); !errors.Is(err, slipverify.ErrArguments) {
				t.Errorf("other arguments: %v", err)
			}
			if _, err := f.m.RedeemQueued(ctx, tok3, "sales_report", []byte(args)); err != nil {
				t.Errorf("after a refused attempt: %v", err)
			}
		})
	}
}

// A marker already used fails the commit: nothing of the call is
// recorded and the slip cannot run.
func TestRecordSpentUsedMarker(t *testing.T) {
	st := openSQLite(t)
	f := newFixture(t, st)
	log := audit.New(st, f.keys, nil)
	t.Cleanup(func() { log.Close() })
	ctx := context.Background()
	tok, c := mint(t, f, "sales_report", `{}`)
	if first, err := st.Consume(ctx, slip.ConsumeKind, c.JTI, f.m.Marker(&c).Expires); err != nil || !first {
		t.Fatal(first, err)
	}
	if spent, err := f.m.RecordSpent(ctx, log, tok, &c, callEvents(c)...); err == nil || spent {
		t.Fatalf("RecordSpent over a used marker = %v, %v", spent, err)
	}
	if recs, err := st.AuditRecords(ctx, store.AuditFilter{}); err != nil || len(recs) != 0 {
		t.Fatalf("%d records, %v", len(recs), err)
	}
	if _, err := f.m.RedeemQueued(ctx, tok, "sales_report", []byte(`{}`)); !errors.Is(err, slipverify.ErrUsed) {
		t.Fatalf("RedeemQueued = %v, want ErrUsed", err)
	}
}

// A recorder that cannot write markers records the events, and the slip
// is redeemed as ever: by the store, at redemption.
func TestRecordSpentFallback(t *testing.T) {
	f := newFixture(t, openSQLite(t))
	ctx := context.Background()
	tok, c := mint(t, f, "sales_report", `{}`)
	rec := &memAudit{}
	if spent, err := f.m.RecordSpent(ctx, rec, tok, &c, callEvents(c)...); err != nil || spent {
		t.Fatalf("RecordSpent = %v, %v", spent, err)
	}
	if got := rec.types(); !slices.Equal(got, []string{audit.ToolDecided + ":", audit.SlipMinted + ":"}) {
		t.Errorf("recorded %v", got)
	}
	if _, err := f.m.RedeemQueued(ctx, tok, "sales_report", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if got := f.audit.types(); !slices.Equal(got, []string{"slip.redeemed:ok"}) {
		t.Errorf("redemption recorded %v", got)
	}
	if _, err := f.m.RedeemQueued(ctx, tok, "sales_report", []byte(`{}`)); !errors.Is(err, slipverify.ErrUsed) {
		t.Errorf("second RedeemQueued = %v", err)
	}
}

// TestVoidSpentSlipBeforeItRuns: a slip spent with its allow (RecordSpent)
// whose call is given up before its executor ran is void: Void says so
// (nothing ran), and the executor's redemption afterwards is refused.
func TestVoidSpentSlipBeforeItRuns(t *testing.T) {
	st := openSQLite(t)
	f := newFixture(t, st)
	log := audit.New(st, f.keys, nil)
	t.Cleanup(func() { log.Close() })
	ctx := context.Background()
	const args = `{"month":"2026-10"}`
	tok, c := mint(t, f, "sales_report", args)
	if spent, err := f.m.RecordSpent(ctx, log, tok, &c, callEvents(c)...); err != nil || !spent {
		t.Fatalf("RecordSpent = %v, %v", spent, err)
	}
	if voided, err := f.m.Void(ctx, tok, &c); err != nil || !voided {
		t.Errorf("Void of a spent slip that never ran = %v, %v; want true (nothing ran)", voided, err)
	}
	if _, err := f.m.RedeemQueued(ctx, tok, "sales_report", []byte(args)); !errors.Is(err, slipverify.ErrUsed) {
		t.Errorf("the executor's redemption of a voided slip = %v, want ErrUsed", err)
	}

	// Once it ran, Void says so.
	tok, c = mint(t, f, "sales_report", args)
	if _, err := f.m.RecordSpent(ctx, log, tok, &c, callEvents(c)...); err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.RedeemQueued(ctx, tok, "sales_report", []byte(args)); err != nil {
		t.Fatal(err)
	}
	if voided, err := f.m.Void(ctx, tok, &c); err != nil || voided {
		t.Errorf("Void of a slip that ran = %v, %v; want false", voided, err)
	}
}
