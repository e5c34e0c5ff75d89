package slip_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/slip"
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
