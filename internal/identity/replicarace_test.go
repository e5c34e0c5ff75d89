package identity

// Races across two replicas: two Providers, each with its own connection
// pool and HTTP server, on ONE PostgreSQL database (a schema of the test
// database). Everything that must be single use or consistent across
// replicas is decided in the database; these tests release many requests
// at once, on both replicas, and repeat.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/sqldb"
	"github.com/gatehouse/gatehouse/internal/store/storetest"
)

// twoReplicas returns the harness (replica A) on PostgreSQL and a second
// harness (replica B): another Provider on another handle to the same
// database, with the same issuer, keys and audit recorder.
func twoReplicas(t *testing.T) (*harness, *harness) {
	t.Helper()
	if os.Getenv("GATEHOUSE_TEST_POSTGRES") == "" {
		t.Skip("GATEHOUSE_TEST_POSTGRES is not set")
	}
	openBackend = func(tb testing.TB) *sqldb.DB { return storetest.OpenPostgres(tb.(*testing.T)) }
	a := newHarness(t)
	openBackend = nil
	db2 := storetest.SecondHandle(t, a.db)
	sealer, err := keys.NewSealer(make([]byte, 32)) // newHarness's master key
	if err != nil {
		t.Fatal(err)
	}
	km2, err := keys.Open(context.Background(), db2, sealer, nil)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	// Every round's losers are replays, all from this one address: far
	// past the bound of an address's recorded refusals (refusals.go),
	// which these tests are not about.
	a.p.MaxFailuresPerIP = 1 << 20
	p2 := &Provider{Issuer: a.p.Issuer, Store: db2, Keys: km2, Audit: a.audit, Now: a.clock.Now,
		Resources: a.p.Resources, Scopes: a.p.Scopes, MaxFailuresPerIP: a.p.MaxFailuresPerIP}
	p2.Mount(mux)
	b := &harness{t: t, p: p2, db: db2, mux: mux, srv: srv, audit: a.audit, clock: a.clock}
	return a, b
}

// send posts form to path on h's server, authenticated as clientID; safe
// to call from any goroutine (it reports errors rather than failing).
func send(h *harness, path, clientID, secret string, f url.Values) (tokenResult, error) {
	req, _ := http.NewRequest(http.MethodPost, h.url(path), strings.NewReader(f.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(clientID, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return tokenResult{}, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return tokenResult{}, err
	}
	r := tokenResult{Status: resp.StatusCode, Header: resp.Header, JSON: map[string]any{}}
	if len(b) > 0 {
		if err := json.Unmarshal(b, &r.JSON); err != nil {
			return r, fmt.Errorf("%s: not JSON: %q", path, b)
		}
	}
	r.Error, _ = r.JSON["error"].(string)
	r.Access, _ = r.JSON["access_token"].(string)
	r.Refresh, _ = r.JSON["refresh_token"].(string)
	return r, nil
}

// together runs every fn at once (released by one close) and waits.
func together(fns ...func()) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, fn := range fns {
		wg.Go(func() { <-start; fn() })
	}
	close(start)
	wg.Wait()
}

// storedCode puts an authorization code of the web client for alice in the
// store, as /authorize would, and returns it with its grant ID.
func storedCode(t *testing.T, h *harness, scope string) (code, grantID string) {
	t.Helper()
	code, grantID = randomToken(prefixCode), randomToken("g")
	now := h.clock.Now()
	err := h.db.Identity().CreateAuthCode(context.Background(), store.AuthCode{Hash: digest(code), ClientID: "web",
		RedirectURI: webRedirect, Username: "alice", AuthTime: now, Method: "pwd", Scope: scope,
		CodeChallenge: challenge, GrantID: grantID, ExpiresAt: now.Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	return code, grantID
}

func codeForm(code string) url.Values {
	return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier},
		"redirect_uri": {webRedirect}}
}

func refreshForm(tok string) url.Values {
	return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok}}
}

const raceRounds = 200

// atOnce posts form to /token as web eight times at once, half on each
// replica, and returns how many got tokens (one of them, won); every other
// answer must be invalid_grant.
func atOnce(t *testing.T, round int, a, b *harness, form url.Values) (ok int, won tokenResult) {
	t.Helper()
	const n = 8
	res := make([]tokenResult, n)
	errs := make([]error, n)
	var fns []func()
	for i := range n {
		h := a
		if i%2 == 1 {
			h = b
		}
		fns = append(fns, func() { res[i], errs[i] = send(h, "/token", "web", "web-secret", form) })
	}
	together(fns...)
	for i, r := range res {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		switch {
		case r.Status == 200:
			ok++
			won = r
		case r.Status != 400 || r.Error != "invalid_grant":
			t.Fatalf("round %d: %d %v", round, r.Status, r.JSON)
		}
	}
	return ok, won
}

// The same code redeemed at once on two replicas: exactly one token
// response; every other is a replay that revokes the grant.
func TestReplicasCodeRedeemedOnce(t *testing.T) {
	a, b := twoReplicas(t)
	ctx := context.Background()
	for round := range raceRounds {
		code, gid := storedCode(t, a, "openid offline_access")
		ok, won := atOnce(t, round, a, b, codeForm(code))
		if ok != 1 {
			t.Fatalf("round %d: %d token responses, want 1", round, ok)
		}
		if rev, err := a.db.Identity().Revoked(ctx, gid, ""); err != nil || !rev {
			t.Fatalf("round %d: grant not revoked after the replays: %v %v", round, rev, err)
		}
		if r, err := send(b, "/token", "web", "web-secret", refreshForm(won.Refresh)); err != nil || r.Status == 200 {
			t.Fatalf("round %d: the winner's refresh token still refreshes: %v %v", round, r.JSON, err)
		}
		if _, err := b.p.parseAccessToken(ctx, won.Access); err == nil {
			t.Fatalf("round %d: the winner's access token still stands", round)
		}
	}
}

// newRefreshFor stores a fresh refresh token of a new grant of alice's.
func newRefreshFor(t *testing.T, h *harness, scope string) (tok, grantID string) {
	t.Helper()
	now := h.clock.Now()
	grantID = randomToken("g")
	tok, err := h.p.newRefresh(context.Background(), store.RefreshToken{GrantID: grantID, ClientID: "web",
		Username: "alice", AuthTime: now, Method: "pwd", Scope: scope, Resources: []string{h.p.MCPResource},
		IssuedAt: now.UTC(), ExpiresAt: now.Add(time.Hour).UTC(), GrantExpiresAt: now.Add(24 * time.Hour).UTC()})
	if err != nil {
		t.Fatal(err)
	}
	return tok, grantID
}

// The same refresh token used at once on two replicas: one new pair at
// most, and the reuse revokes the family (the new pair with it).
func TestReplicasRefreshRotatesOnce(t *testing.T) {
	a, b := twoReplicas(t)
	ctx := context.Background()
	for round := range raceRounds {
		tok, gid := newRefreshFor(t, a, "openid offline_access")
		ok, won := atOnce(t, round, a, b, refreshForm(tok))
		if ok > 1 {
			t.Fatalf("round %d: %d new token pairs, want at most 1", round, ok)
		}
		if rev, err := a.db.Identity().Revoked(ctx, gid, ""); err != nil || !rev {
			t.Fatalf("round %d: family not revoked after the reuse: %v %v", round, rev, err)
		}
		if ok == 1 {
			if r, err := send(a, "/token", "web", "web-secret", refreshForm(won.Refresh)); err != nil || r.Status == 200 {
				t.Fatalf("round %d: the new refresh token outlived the family's revocation: %v %v", round, r.JSON, err)
			}
		}
	}
}

// A refresh on one replica racing RFC 7009 revocation of the same family
// on the other: whatever the order, nothing of the grant stands after.
func TestReplicasRefreshRacesRevocation(t *testing.T) {
	a, b := twoReplicas(t)
	ctx := context.Background()
	for round := range raceRounds {
		tok, gid := newRefreshFor(t, a, "openid offline_access")
		var r tokenResult
		var err1, err2 error
		together(
			func() { r, err1 = send(a, "/token", "web", "web-secret", refreshForm(tok)) },
			func() { _, err2 = send(b, "/revoke", "web", "web-secret", url.Values{"token": {tok}}) },
		)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if rev, err := a.db.Identity().Revoked(ctx, gid, ""); err != nil || !rev {
			t.Fatalf("round %d: family not revoked: %v %v", round, rev, err)
		}
		if r.Status == 200 {
			if r2, err := send(b, "/token", "web", "web-secret", refreshForm(r.Refresh)); err != nil || r2.Status == 200 {
				t.Fatalf("round %d: a refresh token issued in the race outlived the revocation", round)
			}
			if _, err := b.p.parseAccessToken(ctx, r.Access); err == nil {
				t.Fatalf("round %d: an access token issued in the race outlived the revocation", round)
			}
		}
	}
}

// Token exchange on one replica racing the revocation of its subject token
// on the other: if the exchange wins, what it issued dies with the subject.
func TestReplicasExchangeRacesSubjectRevocation(t *testing.T) {
	a, b := twoReplicas(t)
	ctx := context.Background()
	if err := a.db.Identity().SetConsent(ctx, store.Consent{Username: "alice", ClientID: "agent",
		Scopes: []string{"openid", "profile"}, GrantedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	web, err := a.db.Clients().Get(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	alice, err := a.db.Users().Get(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	for round := range raceRounds {
		subject, err := a.p.mintAccess(grant{client: web, user: &alice, authTime: a.clock.Now(), scopes: []string{"openid", "profile"},
			aud: []string{a.p.MCPResource}, grantID: randomToken("g")})
		if err != nil {
			t.Fatal(err)
		}
		var r tokenResult
		var err1, err2 error
		together(
			func() { r, err1 = send(a, "/token", "agent", "agent-secret", exchangeForm(subject.AccessToken)) },
			func() { _, err2 = send(b, "/revoke", "web", "web-secret", url.Values{"token": {subject.AccessToken}}) },
		)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if r.Status != 200 && r.Error != "invalid_grant" {
			t.Fatalf("round %d: exchange %d %v", round, r.Status, r.JSON)
		}
		if r.Status == 200 {
			for _, h := range []*harness{a, b} {
				if _, err := h.p.parseAccessToken(ctx, r.Access); err == nil {
					t.Fatalf("round %d: the exchanged token outlived its subject token's revocation", round)
				}
			}
		}
	}
}

// passwordChange is what `gatehouse user passwd` does on another replica:
// the new password and the end of everything the user held, in one
// transaction ("what was won with [the old password] ends with it").
func passwordChange(ctx context.Context, db *sqldb.DB, username string) error {
	return db.InTx(ctx, func(tx store.Tenant) error {
		err := tx.Users().Update(ctx, username, func(u store.User) (store.User, error) {
			u.PasswordHash = "$argon2id$new"
			return u, nil
		})
		if err != nil {
			return err
		}
		_, err = tx.EndUser(ctx, username, time.Now().Add(24*time.Hour))
		return err
	})
}

// A code redeemed on one replica while the person's password is changed
// (EndUser, in the same transaction) on the other. EndUser deletes unused
// codes and revokes the grant of every refresh token the user holds: so
// either the redemption comes first and its grant is revoked, or it comes
// after and finds no code. Nothing issued by the redemption may stand once
// both are done.
//
// It fails: grantCode reads the code (AuthCode) before EndUser commits
// and writes the grant's first refresh token (CreateRefreshToken) after,
// when EndUser's INSERT … SELECT FROM refresh_tokens has already run: a
// grant nobody revoked, of a user who is still active.
func TestReplicasPasswordChangeRacesCodeRedemption(t *testing.T) {
	a, b := twoReplicas(t)
	ctx := context.Background()
	survived := 0
	var example string
	for round := range raceRounds {
		code, gid := storedCode(t, a, "openid offline_access")
		var r tokenResult
		var err1, err2 error
		together(
			func() { r, err1 = send(a, "/token", "web", "web-secret", codeForm(code)) },
			func() { err2 = passwordChange(ctx, b.db, "alice") },
		)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if r.Status != 200 {
			continue
		}
		// Both are done: the password changed after (or while) the code
		// was redeemed. The refresh token must not work any more.
		r2, err := send(b, "/token", "web", "web-secret", refreshForm(r.Refresh))
		if err != nil {
			t.Fatal(err)
		}
		if r2.Status == 200 {
			survived++
			rev, _ := a.db.Identity().Revoked(ctx, gid, "")
			_, perr := b.p.parseAccessToken(ctx, r2.Access)
			example = fmt.Sprintf("round %d: grant %s revoked=%v; refresh after the password change: 200; its new access token stands: %v",
				round, gid[:8], rev, perr == nil)
		}
	}
	if survived > 0 {
		t.Errorf("%d of %d code redemptions racing a password change kept a live grant (EndUser missed it); e.g. %s",
			survived, raceRounds, example)
	}
}

// The same race with disabling the user (the tenant file's disabled:
// true, applied with EndUser in one transaction), then enabling them
// again. While disabled, every token is refused (Standing reads the user);
// once enabled again, "a user enabled again … must sign in and consent
// afresh" (config/apply.go): nothing won before the disable may work.
func TestReplicasDisableRacesCodeRedemption(t *testing.T) {
	a, b := twoReplicas(t)
	ctx := context.Background()
	setDisabled := func(db *sqldb.DB, disabled bool) error {
		return db.InTx(ctx, func(tx store.Tenant) error {
			err := tx.Users().Update(ctx, "alice", func(u store.User) (store.User, error) {
				u.Disabled = disabled
				return u, nil
			})
			if err == nil && disabled {
				_, err = tx.EndUser(ctx, "alice", time.Now().Add(24*time.Hour))
			}
			return err
		})
	}
	survived := 0
	for round := range raceRounds {
		code, _ := storedCode(t, a, "openid offline_access")
		var r tokenResult
		var err1, err2 error
		together(
			func() { r, err1 = send(a, "/token", "web", "web-secret", codeForm(code)) },
			func() { err2 = setDisabled(b.db, true) },
		)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if r.Status == 200 {
			// Disabled: refused everywhere.
			if _, err := b.p.parseAccessToken(ctx, r.Access); err == nil {
				t.Fatalf("round %d: an access token of a disabled user stands", round)
			}
			// (No refresh here: grantCode-like Consume before activeUser
			// would spend the token.)
		}
		if err := setDisabled(b.db, false); err != nil {
			t.Fatal(err)
		}
		if r.Status == 200 {
			if r2, _ := send(b, "/token", "web", "web-secret", refreshForm(r.Refresh)); r2.Status == 200 {
				survived++
			}
		}
	}
	if survived > 0 {
		t.Errorf("%d of %d code redemptions racing a disable left a grant that works again once the user is enabled", survived, raceRounds)
	}
}
