package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/sqldb"
)

func init() {
	Register(
		Case{"Identity/Sessions", testIdentitySessions},
		Case{"Identity/SessionUse", testIdentitySessionUse},
		Case{"Identity/SessionExpired", testIdentitySessionExpired},
		Case{"Identity/CodesAndRefreshTokens", testIdentityCodes},
		Case{"Identity/Revocations", testIdentityRevocations},
		Case{"Identity/Consents", testIdentityConsents},
		Case{"Identity/AttemptCounters", testIdentityAttempts},
		Case{"Identity/FederationStates", testIdentityFederation},
		Case{"Identity/Purge", testIdentityPurge},
	)
}

// micro drops what the store does not keep (sub-microsecond time, monotonic clock).
func micro(t time.Time) time.Time { return t.Truncate(time.Microsecond).UTC() }

func testIdentitySessions(t *testing.T, db *sqldb.DB) {
	ctx, id := context.Background(), db.Identity()
	now := micro(time.Now())
	s := store.LoginSession{ID: "sid1", SecretHash: "h1", Username: "alice", AuthTime: now, CSRF: "c",
		Method: "pwd", ExpiresAt: now.Add(time.Hour)}
	mustNil(t, id.CreateSession(ctx, s))
	if err := id.CreateSession(ctx, s); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("CreateSession twice: %v, want ErrConflict", err)
	}
	other := s
	other.SecretHash = "h2"
	if err := id.CreateSession(ctx, other); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("CreateSession with a taken ID: %v, want ErrConflict", err)
	}
	got, err := id.SessionBySecret(ctx, "h1")
	mustNil(t, err)
	if diff := cmp.Diff(s, got); diff != "" {
		t.Errorf("SessionBySecret (-want +got):\n%s", diff)
	}
	if _, err := id.SessionBySecret(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SessionBySecret unknown: %v", err)
	}
	mustNil(t, id.DeleteSession(ctx, "sid1"))
	mustNil(t, id.DeleteSession(ctx, "sid1"))
	if _, err := id.SessionBySecret(ctx, "h1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after DeleteSession: %v", err)
	}
}

// testIdentitySessionUse: a session's last use is stored (from its
// creation on), moves only forward, and ends the session when it is old
// enough, once, with the marker that ends the session's grants written in
// the same step; a session used since stands and is not marked.
func testIdentitySessionUse(t *testing.T, db *sqldb.DB) {
	ctx, id := context.Background(), db.Identity()
	now := micro(time.Now())
	s := store.LoginSession{ID: "sid1", SecretHash: "h1", Username: "alice", AuthTime: now, CSRF: "c",
		Method: "pwd", ExpiresAt: now.Add(12 * time.Hour), CreatedAt: now}
	mustNil(t, id.CreateSession(ctx, s))
	seen := func(want time.Time) {
		t.Helper()
		a, err := id.SessionBySecret(ctx, "h1")
		mustNil(t, err)
		b, err := id.SessionByID(ctx, "sid1")
		mustNil(t, err)
		if !a.LastSeenAt.Equal(want) || !b.LastSeenAt.Equal(want) {
			t.Fatalf("last seen %v (by secret), %v (by ID), want %v", a.LastSeenAt, b.LastSeenAt, want)
		}
		if diff := cmp.Diff(a, b); diff != "" {
			t.Errorf("SessionByID differs from SessionBySecret (-secret +id):\n%s", diff)
		}
	}
	seen(now)
	mustNil(t, id.TouchSession(ctx, "sid1", now.Add(10*time.Minute)))
	seen(now.Add(10 * time.Minute))
	mustNil(t, id.TouchSession(ctx, "sid1", now.Add(5*time.Minute))) // a replica behind
	seen(now.Add(10 * time.Minute))
	mustNil(t, id.TouchSession(ctx, "nope", now)) // gone: nothing to do

	ended, err := id.EndIdleSession(ctx, "sid1", now.Add(10*time.Minute-time.Microsecond), "session_end", now.Add(13*time.Hour))
	mustNil(t, err)
	if ended {
		t.Fatal("EndIdleSession ended a session used since")
	}
	if used, err := id.Consumed(ctx, "session_end", "sid1"); err != nil || used {
		t.Fatalf("a session that stands is marked ended: %v %v", used, err)
	}
	seen(now.Add(10 * time.Minute))
	ended, err = id.EndIdleSession(ctx, "sid1", now.Add(10*time.Minute), "session_end", now.Add(13*time.Hour))
	mustNil(t, err)
	if !ended {
		t.Fatal("EndIdleSession kept a session unused since")
	}
	if _, err := id.SessionByID(ctx, "sid1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after EndIdleSession: %v, want ErrNotFound", err)
	}
	if used, err := id.Consumed(ctx, "session_end", "sid1"); err != nil || !used {
		t.Errorf("the ended session is not marked: %v %v", used, err)
	}
	if ended, err := id.EndIdleSession(ctx, "sid1", now.Add(time.Hour), "session_end", now.Add(13*time.Hour)); err != nil || ended {
		t.Errorf("EndIdleSession again: %v %v, want false", ended, err)
	}

	// A session stored without its creation (before it was kept) has no
	// last use until one is recorded: it is never taken for unused.
	old := store.LoginSession{ID: "sid2", SecretHash: "h2", Username: "alice", AuthTime: now, CSRF: "c",
		Method: "pwd", ExpiresAt: now.Add(12 * time.Hour)}
	mustNil(t, id.CreateSession(ctx, old))
	if got, err := id.SessionByID(ctx, "sid2"); err != nil || !got.LastSeenAt.IsZero() {
		t.Fatalf("last seen of a session without creation: %v %v, want zero", got.LastSeenAt, err)
	}
	if ended, err := id.EndIdleSession(ctx, "sid2", now.Add(time.Hour), "session_end", now.Add(13*time.Hour)); err != nil || ended {
		t.Errorf("EndIdleSession of a session never seen: %v %v, want false", ended, err)
	}
}

// testIdentitySessionExpired: an expired session stays stored
// store.SessionKept after its end, for the request that next finds it to
// end it (EndExpiredSession), which only one does; a live one is not
// ended.
func testIdentitySessionExpired(t *testing.T, db *sqldb.DB) {
	ctx, id := context.Background(), db.Identity()
	now := micro(time.Now())
	end := now.Add(12 * time.Hour)
	for _, sid := range []string{"sid1", "sid2"} {
		mustNil(t, id.CreateSession(ctx, store.LoginSession{ID: sid, SecretHash: "h-" + sid, Username: "alice", AuthTime: now,
			CSRF: "c", Method: "pwd", ExpiresAt: end, CreatedAt: now}))
	}
	if ended, err := id.EndExpiredSession(ctx, "sid1", end.Add(-time.Microsecond)); err != nil || ended {
		t.Fatalf("EndExpiredSession of a live session: %v %v, want false", ended, err)
	}
	if _, err := id.PurgeIdentity(ctx, end.Add(store.SessionKept-time.Microsecond)); err != nil {
		t.Fatal(err)
	}
	for _, sid := range []string{"sid1", "sid2"} {
		if _, err := id.SessionByID(ctx, sid); err != nil {
			t.Fatalf("%s purged before store.SessionKept past its end: %v", sid, err)
		}
	}
	if ended, err := id.EndExpiredSession(ctx, "sid1", end); err != nil || !ended {
		t.Fatalf("EndExpiredSession at the end: %v %v, want true", ended, err)
	}
	if ended, err := id.EndExpiredSession(ctx, "sid1", end); err != nil || ended {
		t.Errorf("EndExpiredSession again: %v %v, want false", ended, err)
	}
	if _, err := id.SessionByID(ctx, "sid1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after EndExpiredSession: %v, want ErrNotFound", err)
	}
	if _, err := id.PurgeIdentity(ctx, end.Add(store.SessionKept)); err != nil {
		t.Fatal(err)
	}
	if _, err := id.SessionByID(ctx, "sid2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("store.SessionKept past its end: %v, want purged", err)
	}
	if ended, err := id.EndExpiredSession(ctx, "sid2", end.Add(store.SessionKept)); err != nil || ended {
		t.Errorf("EndExpiredSession of a purged session: %v %v, want false", ended, err)
	}
}

func testIdentityCodes(t *testing.T, db *sqldb.DB) {
	ctx, id := context.Background(), db.Identity()
	now := micro(time.Now())
	c := store.AuthCode{Hash: "ch", ClientID: "app", RedirectURI: "http://127.0.0.1/cb", Username: "alice",
		SessionID: "sid", AuthTime: now, Scope: "openid", Resources: []string{"http://x/mcp"}, Nonce: "n",
		CodeChallenge: "cc", GrantID: "g1", ExpiresAt: now.Add(time.Minute)}
	mustNil(t, id.CreateAuthCode(ctx, c))
	if err := id.CreateAuthCode(ctx, c); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("CreateAuthCode twice: %v", err)
	}
	got, err := id.AuthCode(ctx, "ch")
	mustNil(t, err)
	if diff := cmp.Diff(c, got); diff != "" {
		t.Errorf("AuthCode (-want +got):\n%s", diff)
	}
	if _, err := id.AuthCode(ctx, "other"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("AuthCode unknown: %v", err)
	}
	// Consumed reads the marker Consume writes, without writing one.
	used, err := id.Consumed(ctx, "code", "ch")
	mustNil(t, err)
	if used {
		t.Error("Consumed before Consume = true")
	}
	if used, _ := id.Consumed(ctx, "code", "ch"); used {
		t.Error("Consumed marked the code")
	}
	first, err := db.Consume(ctx, "code", "ch", c.ExpiresAt)
	mustNil(t, err)
	if !first {
		t.Fatal("Consume after Consumed was not first")
	}
	if used, _ := id.Consumed(ctx, "code", "ch"); !used {
		t.Error("Consumed after Consume = false")
	}
	// Unconsume gives a marker back: the next Consume is first again.
	mustNil(t, id.Unconsume(ctx, "code", "ch"))
	mustNil(t, id.Unconsume(ctx, "code", "none"))
	if first, err := db.Consume(ctx, "code", "ch", c.ExpiresAt); err != nil || !first {
		t.Errorf("Consume after Unconsume: first=%v, %v", first, err)
	}
	if first, _ := db.Consume(ctx, "code", "ch", c.ExpiresAt); first {
		t.Error("a second Consume after Unconsume was first")
	}

	r := store.RefreshToken{Hash: "rh", GrantID: "g1", ClientID: "app", Username: "alice", SessionID: "sid",
		AuthTime: now, Scope: "openid", Resources: []string{"http://x/mcp"}, IssuedAt: now,
		ExpiresAt: now.Add(time.Hour), GrantExpiresAt: now.Add(24 * time.Hour)}
	mustNil(t, id.CreateRefreshToken(ctx, r))
	if err := id.CreateRefreshToken(ctx, r); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("CreateRefreshToken twice: %v", err)
	}
	gotR, err := id.RefreshToken(ctx, "rh")
	mustNil(t, err)
	if diff := cmp.Diff(r, gotR); diff != "" {
		t.Errorf("RefreshToken (-want +got):\n%s", diff)
	}
	if _, err := id.RefreshToken(ctx, "x"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RefreshToken unknown: %v", err)
	}
}

func testIdentityRevocations(t *testing.T, db *sqldb.DB) {
	ctx, id := context.Background(), db.Identity()
	exp := time.Now().Add(time.Hour)
	for _, tc := range []struct{ grant, jti string }{{"g1", ""}, {"", "j1"}, {"g1", "j1"}, {"", ""}} {
		if r, err := id.Revoked(ctx, tc.grant, tc.jti); err != nil || r {
			t.Errorf("Revoked(%q, %q) before = %v, %v", tc.grant, tc.jti, r, err)
		}
	}
	mustNil(t, id.Revoke(ctx, store.RevokedGrant, "g1", exp))
	mustNil(t, id.Revoke(ctx, store.RevokedGrant, "g1", exp.Add(-time.Minute))) // twice is fine
	mustNil(t, id.Revoke(ctx, store.RevokedToken, "j2", exp))
	for _, tc := range []struct {
		grant, jti string
		want       bool
	}{
		{"g1", "", true}, {"g1", "other", true}, {"g2", "j2", true}, {"", "j2", true},
		{"g2", "", false}, {"", "j1", false}, {"j2", "", false}, {"", "g1", false},
	} {
		if r, err := id.Revoked(ctx, tc.grant, tc.jti); err != nil || r != tc.want {
			t.Errorf("Revoked(%q, %q) = %v, %v; want %v", tc.grant, tc.jti, r, err, tc.want)
		}
	}
	// A second Revoke with an earlier expiry must not shorten the first.
	n, err := id.PurgeIdentity(ctx, exp.Add(-30*time.Second))
	mustNil(t, err)
	if n != 0 {
		t.Errorf("purged %d live revocations", n)
	}
}

func testIdentityConsents(t *testing.T, db *sqldb.DB) {
	ctx, id := context.Background(), db.Identity()
	if _, err := id.Consent(ctx, "alice", "app"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Consent before: %v", err)
	}
	c := store.Consent{Username: "alice", ClientID: "app", Scopes: []string{"openid"}, GrantedAt: micro(time.Now())}
	mustNil(t, id.SetConsent(ctx, c))
	c.Scopes = []string{"email", "openid"}
	mustNil(t, id.SetConsent(ctx, c))
	got, err := id.Consent(ctx, "alice", "app")
	mustNil(t, err)
	if diff := cmp.Diff(c, got); diff != "" {
		t.Errorf("Consent (-want +got):\n%s", diff)
	}
	if _, err := id.Consent(ctx, "bob", "app"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("another user's consent: %v", err)
	}
	mustNil(t, id.DeleteConsent(ctx, "alice", "app"))
	mustNil(t, id.DeleteConsent(ctx, "alice", "app"))
	if _, err := id.Consent(ctx, "alice", "app"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after DeleteConsent: %v", err)
	}
}

func testIdentityAttempts(t *testing.T, db *sqldb.DB) {
	ctx, id := context.Background(), db.Identity()
	now := time.Now()
	const w = 10 * time.Minute
	for want := 1; want <= 3; want++ {
		n, err := id.CountAttempt(ctx, "u:alice", now.Add(time.Duration(want-1)*time.Second), w)
		mustNil(t, err)
		if n != want {
			t.Fatalf("attempt %d counted %d", want, n)
		}
	}
	if n, err := id.Attempts(ctx, "u:alice", now.Add(time.Minute)); err != nil || n != 3 {
		t.Errorf("Attempts: %d, %v, want 3", n, err)
	}
	if n, err := id.Attempts(ctx, "u:nobody", now); err != nil || n != 0 {
		t.Errorf("Attempts of no counter: %d, %v, want 0", n, err)
	}
	if n, _ := id.Attempts(ctx, "u:alice", now.Add(w)); n != 0 {
		t.Errorf("Attempts after the window: %d, want 0", n)
	}
	mustNil(t, id.ForgiveAttempt(ctx, "u:alice"))
	if n, _ := id.Attempts(ctx, "u:alice", now.Add(time.Minute)); n != 2 {
		t.Errorf("Attempts after ForgiveAttempt: %d, want 2", n)
	}
	if n, _ := id.CountAttempt(ctx, "u:alice", now.Add(time.Minute), w); n != 3 {
		t.Errorf("after ForgiveAttempt: %d, want 3", n)
	}
	// The window is fixed from its first attempt: it ends at now+w.
	if n, _ := id.CountAttempt(ctx, "u:alice", now.Add(w), w); n != 1 {
		t.Errorf("after the window: %d, want 1", n)
	}
	mustNil(t, id.ResetAttempts(ctx, "u:alice"))
	if n, _ := id.CountAttempt(ctx, "u:alice", now.Add(w), w); n != 1 {
		t.Errorf("after ResetAttempts: %d, want 1", n)
	}
	// Other keys are other counters; concurrent attempts all count.
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if _, err := id.CountAttempt(ctx, "ip:192.0.2.1", now, w); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n, _ := id.CountAttempt(ctx, "ip:192.0.2.1", now, w); n != 21 {
		t.Errorf("after 20 concurrent attempts: %d, want 21", n)
	}
	// Forgiving never goes below zero.
	mustNil(t, id.ResetAttempts(ctx, "u:bob"))
	mustNil(t, id.ForgiveAttempt(ctx, "u:bob"))
}

func testIdentityPurge(t *testing.T, db *sqldb.DB) {
	ctx, id := context.Background(), db.Identity()
	now := micro(time.Now())
	old, live := now.Add(-time.Minute), now.Add(time.Hour)
	// An expired session stays store.SessionKept (testIdentitySessionExpired).
	mustNil(t, id.CreateSession(ctx, store.LoginSession{ID: "a", SecretHash: "a", Username: "u", ExpiresAt: now.Add(-store.SessionKept)}))
	mustNil(t, id.CreateSession(ctx, store.LoginSession{ID: "b", SecretHash: "b", Username: "u", ExpiresAt: live}))
	// An expired code stays a while (a redemption that read it just
	// before it expired asks for it again, and ending its person revokes
	// its grant while the access tokens of its redemption live): one
	// expired an hour ago goes, one expired 20 minutes ago stays.
	mustNil(t, id.CreateAuthCode(ctx, store.AuthCode{Hash: "a", ExpiresAt: now.Add(-time.Hour)}))
	mustNil(t, id.CreateAuthCode(ctx, store.AuthCode{Hash: "just", ExpiresAt: now.Add(-20 * time.Minute)}))
	mustNil(t, id.CreateRefreshToken(ctx, store.RefreshToken{Hash: "a", GrantID: "g", ExpiresAt: old}))
	mustNil(t, id.CreateRefreshToken(ctx, store.RefreshToken{Hash: "b", GrantID: "g", ExpiresAt: live}))
	mustNil(t, id.Revoke(ctx, store.RevokedToken, "a", old))
	mustNil(t, id.CreateFederationState(ctx, store.FederationState{Hash: "a", ExpiresAt: old}))
	if _, err := id.CountAttempt(ctx, "k", now.Add(-time.Hour), time.Minute); err != nil {
		t.Fatal(err)
	}
	n, err := id.PurgeIdentity(ctx, now)
	mustNil(t, err)
	if n != 6 {
		t.Errorf("purged %d, want 6", n)
	}
	if _, err := id.SessionBySecret(ctx, "b"); err != nil {
		t.Errorf("a live session was purged: %v", err)
	}
	if _, err := id.RefreshToken(ctx, "b"); err != nil {
		t.Errorf("a live refresh token was purged: %v", err)
	}
	if _, err := id.AuthCode(ctx, "a"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an expired code survived: %v", err)
	}
	if stands, err := id.AuthCodeStands(ctx, "just"); err != nil || !stands {
		t.Errorf("a code expired 20 minutes ago was purged: %v %v", stands, err)
	}
}

func testIdentityFederation(t *testing.T, db *sqldb.DB) {
	ctx, id := context.Background(), db.Identity()
	f := store.FederationState{Hash: "fh", Connection: "okta", Nonce: "n", CodeVerifier: "v", Authz: "client_id=x",
		Next: "/admin", ExpiresAt: micro(time.Now().Add(10 * time.Minute))}
	mustNil(t, id.CreateFederationState(ctx, f))
	if err := id.CreateFederationState(ctx, f); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("twice: %v", err)
	}
	got, err := id.FederationState(ctx, "fh")
	mustNil(t, err)
	if diff := cmp.Diff(f, got); diff != "" {
		t.Errorf("FederationState (-want +got):\n%s", diff)
	}
	if _, err := id.FederationState(ctx, "x"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown: %v", err)
	}
}
