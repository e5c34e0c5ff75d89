package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/sqldb"
)

func init() {
	Register(Case{"Identity/EndUser", testEndUser})
}

// testEndUser: ending a user deletes their sessions, codes and consents and
// revokes their grants, in the caller's transaction, and touches nobody
// else's; the sessions it reports are those it ended, not those already
// expired.
func testEndUser(t *testing.T, db *sqldb.DB) {
	ctx, id := context.Background(), db.Identity()
	now := micro(time.Now())
	until := now.Add(time.Hour)
	for _, s := range []store.LoginSession{
		{ID: "c1", SecretHash: "c1", Username: "carol", ExpiresAt: now.Add(time.Hour)},
		{ID: "c2", SecretHash: "c2", Username: "carol", ExpiresAt: now.Add(time.Hour)},
		// c3 expired, kept store.SessionKept so that its end is noticed:
		// deleted, but not counted among the sessions ending carol ended.
		{ID: "c3", SecretHash: "c3", Username: "carol", ExpiresAt: now.Add(-time.Minute)},
		{ID: "a1", SecretHash: "a1", Username: "alice", ExpiresAt: now.Add(time.Hour)},
	} {
		mustNil(t, id.CreateSession(ctx, s))
	}
	mustNil(t, id.CreateAuthCode(ctx, store.AuthCode{Hash: "code-c", Username: "carol", GrantID: "g0", ExpiresAt: now.Add(time.Minute)}))
	mustNil(t, id.CreateAuthCode(ctx, store.AuthCode{Hash: "code-a", Username: "alice", GrantID: "ga0", ExpiresAt: now.Add(time.Minute)}))
	for _, r := range []store.RefreshToken{
		// g1 rotated once: its revocation must last as long as the newer token.
		{Hash: "r1", GrantID: "g1", Username: "carol", ExpiresAt: now.Add(2 * time.Hour)},
		{Hash: "r2", GrantID: "g1", Username: "carol", ExpiresAt: now.Add(3 * time.Hour)},
		// g2's token expires before until: revoked until until.
		{Hash: "r3", GrantID: "g2", Username: "carol", ExpiresAt: now.Add(30 * time.Minute)},
		{Hash: "r4", GrantID: "ga", Username: "alice", ExpiresAt: now.Add(3 * time.Hour)},
	} {
		mustNil(t, id.CreateRefreshToken(ctx, r))
	}
	for _, c := range []store.Consent{
		{Username: "carol", ClientID: "app1", Scopes: []string{"openid"}},
		{Username: "carol", ClientID: "app2", Scopes: []string{"openid"}},
		{Username: "alice", ClientID: "app1", Scopes: []string{"openid"}},
	} {
		mustNil(t, id.SetConsent(ctx, c))
	}

	// A transaction that fails ends nothing.
	boom := errors.New("boom")
	err := db.InTx(ctx, func(tx store.Tenant) error {
		if _, err := tx.EndUser(ctx, "carol", until); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("InTx: %v", err)
	}
	if _, err := id.SessionBySecret(ctx, "c1"); err != nil {
		t.Fatalf("a rolled-back EndUser ended a session: %v", err)
	}
	if r, _ := id.Revoked(ctx, "g1", ""); r {
		t.Fatal("a rolled-back EndUser revoked a grant")
	}

	var ended store.UserEnded
	mustNil(t, db.InTx(ctx, func(tx store.Tenant) error {
		ended, err = tx.EndUser(ctx, "carol", until)
		return err
	}))
	// g0 is only a code's grant: tokens of a client without refresh
	// tokens hold it.
	if diff := cmp.Diff(store.UserEnded{Sessions: 2, Grants: 3, Consents: 2}, ended); diff != "" {
		t.Errorf("EndUser (-want +got):\n%s", diff)
	}
	for _, h := range []string{"c1", "c2", "c3"} {
		if _, err := id.SessionBySecret(ctx, h); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("carol's session %s: %v", h, err)
		}
	}
	if _, err := id.AuthCode(ctx, "code-c"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("carol's code: %v", err)
	}
	if stands, err := id.AuthCodeStands(ctx, "code-c"); err != nil || stands {
		t.Errorf("carol's code stands: %v, %v", stands, err)
	}
	for _, g := range []string{"g0", "g1", "g2"} {
		if r, err := id.Revoked(ctx, g, ""); err != nil || !r {
			t.Errorf("carol's grant %s: revoked %v, %v", g, r, err)
		}
	}
	for _, c := range []string{"app1", "app2"} {
		if _, err := id.Consent(ctx, "carol", c); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("carol's consent to %s: %v", c, err)
		}
	}
	// Alice keeps everything.
	if _, err := id.SessionBySecret(ctx, "a1"); err != nil {
		t.Errorf("alice's session: %v", err)
	}
	if _, err := id.AuthCode(ctx, "code-a"); err != nil {
		t.Errorf("alice's code: %v", err)
	}
	if stands, err := id.AuthCodeStands(ctx, "code-a"); err != nil || !stands {
		t.Errorf("alice's code stands: %v, %v", stands, err)
	}
	for _, g := range []string{"ga", "ga0"} {
		if r, _ := id.Revoked(ctx, g, ""); r {
			t.Errorf("alice's grant %s was revoked", g)
		}
	}
	if _, err := id.Consent(ctx, "alice", "app1"); err != nil {
		t.Errorf("alice's consent: %v", err)
	}

	// Ending carol again ends nothing: her grants were revoked already
	// (her refresh tokens are still stored), and a count that said
	// otherwise would be reported, and audited, as ended now.
	mustNil(t, db.InTx(ctx, func(tx store.Tenant) error {
		ended, err = tx.EndUser(ctx, "carol", until)
		return err
	}))
	if diff := cmp.Diff(store.UserEnded{}, ended); diff != "" {
		t.Errorf("EndUser again (-want +got):\n%s", diff)
	}

	// Outside a transaction, and again: nothing left to delete, the grants
	// revoked again (never for less long).
	ended, err = db.EndUser(ctx, "carol", now)
	mustNil(t, err)
	if ended.Sessions != 0 || ended.Consents != 0 {
		t.Errorf("EndUser again: %+v", ended)
	}
	// Each revocation lasts as long as the grant's last token, and at
	// least until.
	_, err = id.PurgeIdentity(ctx, until.Add(-time.Minute))
	mustNil(t, err)
	if r, _ := id.Revoked(ctx, "g2", ""); !r {
		t.Error("g2's revocation ended before until")
	}
	_, err = id.PurgeIdentity(ctx, now.Add(3*time.Hour-time.Minute))
	mustNil(t, err)
	if r, _ := id.Revoked(ctx, "g1", ""); !r {
		t.Error("g1's revocation ended before its last refresh token")
	}
	if r, _ := id.Revoked(ctx, "g2", ""); r {
		t.Error("g2's revocation outlived until")
	}
}
