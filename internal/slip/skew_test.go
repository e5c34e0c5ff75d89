package slip_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/slip"
	"github.com/gatehouse/gatehouse/slipverify"
)

// TestRedeemedSlipStaysSpentUnderReplicaClockSkew: replica A's clock runs
// 10 s ahead of replica B's. A's routine purge of expired markers (every
// replica purges with its own clock) does not bring a slip B redeemed back
// to life while B still deems it unexpired.
func TestRedeemedSlipStaysSpentUnderReplicaClockSkew(t *testing.T) {
	f := newFixture(t, openSQLite(t))
	ctx := context.Background()
	bNow := *f.now
	b := &slip.Minter{Issuer: f.m.Issuer, Keys: f.m.Keys, Store: f.m.Store, Audit: &memAudit{}, Now: func() time.Time { return bNow }}
	canon := []byte(`{"amount":12}`)
	tok, c, err := b.Mint(slip.Request{Tool: "refund", Args: canon, Subject: "alice", Actor: agent(), Redeemer: "billing-api", Correlation: "c1"})
	if err != nil {
		t.Fatal(err)
	}
	bNow = bNow.Add(time.Second)
	if resp, _ := b.Introspect(ctx, tok, "billing-api", true); resp["active"] != true {
		t.Fatalf("first introspection: %v", resp)
	}
	bNow = time.Unix(c.Expiry-3, 0) // B: 3 s before the slip expires
	aNow := bNow.Add(10 * time.Second)
	if _, err := f.st.PurgeConsumed(ctx, aNow); err != nil {
		t.Fatal(err)
	}
	if resp, _ := b.Introspect(ctx, tok, "billing-api", true); resp["active"] != false {
		t.Errorf("the slip was redeemed a second time after another replica's purge: %v", resp)
	}
}

// TestLocalSlipHasOneSpelling: a slip the gateway mints for itself to
// redeem verifies only as minted: the same MAC spelled otherwise (the
// unused bits of its last character set, a line break inside) is refused.
func TestLocalSlipHasOneSpelling(t *testing.T) {
	f := newFixture(t, openSQLite(t))
	args := []byte(`{"month":"2026-10"}`)
	tok, _, err := f.m.Mint(slip.Request{Tool: "sales_report", Args: args, Subject: "alice", Actor: agent(), Local: true})
	if err != nil {
		t.Fatal(err)
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, tok[len(tok)-1])
	// HS256: 32 bytes, 43 characters, the last of which has two unused bits.
	for _, v := range []string{tok[:len(tok)-1] + string(alphabet[last^1]), tok[:len(tok)-6] + "\n" + tok[len(tok)-6:]} {
		if _, err := f.m.Verify(v, "sales_report", args); err == nil {
			t.Errorf("another spelling of a local slip verifies: %q", v[len(v)-8:])
		}
	}
	if _, err := f.m.Verify(tok, "sales_report", args); err != nil {
		t.Errorf("the slip itself: %v", err)
	}
}

// TestOwnRedemptionRefusesAtExpiry: the gateway is the issuer, and the
// issuer's clock decides a slip's life with no skew allowed (docs/slips.md:
// introspection answers inactive from exp on). The executor redeeming a
// slip of its own process must hold to the same exp: a call whose slip ran
// out (a slow commit, a wait for an upstream lane) is refused, not run
// up to slipverify.Leeway past it, which is for other parties' clocks.
func TestOwnRedemptionRefusesAtExpiry(t *testing.T) {
	st := openSQLite(t)
	f := newFixture(t, st)
	log := audit.New(st, f.keys, nil)
	t.Cleanup(func() { log.Close() })
	ctx := context.Background()
	const args = `{"month":"2026-10"}`
	base := *f.now
	defer func() { *f.now = base }()

	// A local slip, redeemed as the executor of a built-in tool does.
	tok, c := mint(t, f, "sales_report", args)
	*f.now = time.Unix(c.Expiry+2, 0) // within Leeway
	if _, err := f.m.Redeem(ctx, tok, "sales_report", []byte(args)); !errors.Is(err, slipverify.ErrExpired) {
		t.Errorf("Redeem 2 s after exp = %v, want ErrExpired", err)
	}

	// One spent with its allow (RecordSpent), as the gateway does first.
	*f.now = base
	tok, c = mint(t, f, "sales_report", args)
	if spent, err := f.m.RecordSpent(ctx, log, tok, &c, callEvents(c)...); err != nil || !spent {
		t.Fatalf("RecordSpent = %v, %v", spent, err)
	}
	*f.now = time.Unix(c.Expiry, 0)
	if _, err := f.m.RedeemQueued(ctx, tok, "sales_report", []byte(args)); !errors.Is(err, slipverify.ErrExpired) {
		t.Errorf("RedeemQueued at exp = %v, want ErrExpired", err)
	}

	// Introspection, the other way a slip is redeemed, agrees.
	*f.now = base
	tok, c = mintFor(t, f, "refund", `{"amount":12}`, "billing-api")
	*f.now = time.Unix(c.Expiry+2, 0)
	if resp, _ := f.m.Introspect(ctx, tok, "billing-api", true); resp["active"] != false {
		t.Errorf("introspection 2 s after exp: %v", resp)
	}
}
