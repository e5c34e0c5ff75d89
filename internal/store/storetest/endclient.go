package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/sqldb"
)

func init() {
	Register(Case{"Identity/EndClient", testEndClient})
}

// testEndClient: ending a client deletes its codes and consents, revokes
// the grants of its codes and refresh tokens and keeps the time of its
// removal, in the caller's transaction, and touches no other client's.
func testEndClient(t *testing.T, db *sqldb.DB) {
	ctx, id := context.Background(), db.Identity()
	now := micro(time.Now())
	until := now.Add(time.Hour)
	mustNil(t, id.CreateAuthCode(ctx, store.AuthCode{Hash: "code-1", ClientID: "app1", Username: "carol", GrantID: "g0", ExpiresAt: now.Add(time.Minute)}))
	mustNil(t, id.CreateAuthCode(ctx, store.AuthCode{Hash: "code-2", ClientID: "app2", Username: "carol", GrantID: "g9", ExpiresAt: now.Add(time.Minute)}))
	for _, r := range []store.RefreshToken{
		// g1 rotated once: its revocation must last as long as the newer token.
		{Hash: "r1", GrantID: "g1", ClientID: "app1", Username: "carol", ExpiresAt: now.Add(2 * time.Hour)},
		{Hash: "r2", GrantID: "g1", ClientID: "app1", Username: "carol", ExpiresAt: now.Add(3 * time.Hour)},
		{Hash: "r3", GrantID: "g2", ClientID: "app1", Username: "alice", ExpiresAt: now.Add(30 * time.Minute)},
		{Hash: "r4", GrantID: "g8", ClientID: "app2", Username: "alice", ExpiresAt: now.Add(3 * time.Hour)},
	} {
		mustNil(t, id.CreateRefreshToken(ctx, r))
	}
	for _, c := range []store.Consent{
		{Username: "carol", ClientID: "app1", Scopes: []string{"openid"}},
		{Username: "alice", ClientID: "app1", Scopes: []string{"openid"}},
		{Username: "alice", ClientID: "app2", Scopes: []string{"openid"}},
	} {
		mustNil(t, id.SetConsent(ctx, c))
	}

	// A transaction that fails ends nothing.
	boom := errors.New("boom")
	err := db.InTx(ctx, func(tx store.Tenant) error {
		if _, err := tx.EndClient(ctx, "app1", until); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("InTx: %v", err)
	}
	if r, _ := id.Revoked(ctx, "g1", ""); r {
		t.Fatal("a rolled-back EndClient revoked a grant")
	}
	if at, err := id.ClientEndedAt(ctx, "app1"); err != nil || !at.IsZero() {
		t.Fatalf("a rolled-back EndClient kept a removal: %v %v", at, err)
	}

	var ended store.ClientEnded
	before := micro(time.Now())
	err = db.InTx(ctx, func(tx store.Tenant) error {
		ended, err = tx.EndClient(ctx, "app1", until)
		return err
	})
	mustNil(t, err)
	if want := (store.ClientEnded{Grants: 3, Consents: 2}); ended != want {
		t.Errorf("EndClient: %+v, want %+v", ended, want)
	}
	if _, err := id.AuthCode(ctx, "code-1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("app1's code: %v", err)
	}
	if _, err := id.Consent(ctx, "carol", "app1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("carol's consent to app1: %v", err)
	}
	for _, g := range []string{"g0", "g1", "g2"} {
		if r, err := id.Revoked(ctx, g, ""); err != nil || !r {
			t.Errorf("grant %s revoked: %v %v", g, r, err)
		}
	}
	at, err := id.ClientEndedAt(ctx, "app1")
	if err != nil || at.Before(before) || at.After(time.Now().Add(time.Second)) {
		t.Errorf("app1's removal at %v (%v), want about %v", at, err, before)
	}
	// Nobody else's.
	if _, err := id.AuthCode(ctx, "code-2"); err != nil {
		t.Errorf("app2's code: %v", err)
	}
	if _, err := id.Consent(ctx, "alice", "app2"); err != nil {
		t.Errorf("alice's consent to app2: %v", err)
	}
	for _, g := range []string{"g8", "g9"} {
		if r, _ := id.Revoked(ctx, g, ""); r {
			t.Errorf("app2's grant %s was revoked", g)
		}
	}
	if at, err := id.ClientEndedAt(ctx, "app2"); err != nil || !at.IsZero() {
		t.Errorf("app2's removal: %v %v", at, err)
	}

	// The revocations and the removal last until until, g1's as long as
	// its newer token.
	n, err := id.PurgeIdentity(ctx, until.Add(time.Minute))
	mustNil(t, err)
	if n == 0 {
		t.Error("nothing purged")
	}
	if at, _ := id.ClientEndedAt(ctx, "app1"); !at.IsZero() {
		t.Error("app1's removal outlived until")
	}
	if r, _ := id.Revoked(ctx, "g1", ""); !r {
		t.Error("g1's revocation ended before its last refresh token")
	}
	if r, _ := id.Revoked(ctx, "g0", ""); r {
		t.Error("g0's revocation outlived until")
	}

	// Outside a transaction too; again, it finds only g1, which app1's
	// refresh tokens (kept until their grant ends) still name, and which
	// is still revoked: nothing is ended now, and none is counted.
	ended, err = db.EndClient(ctx, "app1", now)
	if err != nil || ended != (store.ClientEnded{}) {
		t.Errorf("EndClient again: %+v %v", ended, err)
	}
	if r, _ := id.Revoked(ctx, "g1", ""); !r {
		t.Error("g1 is no longer revoked after EndClient again")
	}
}
