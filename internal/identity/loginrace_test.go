package identity

// A sign-in or an authorization that runs while an admin's `user passwd`
// (or removal, or disabling) commits must keep nothing of what it won:
// the change ends the person's sessions, codes and grants (EndUser), and
// what was stored after that would otherwise outlive it. The hook below
// runs the change, in its own transaction, right after the provider reads
// the user, so that the race is lost every time rather than now and then.

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/sqldb"
)

// usersHook is the provider's store, running after (when set) once, right
// after the next Users().Get has read its user.
type usersHook struct {
	Store
	mu    sync.Mutex
	after func()
}

func (s *usersHook) Users() store.Collection[store.User] { return hookedUsers{s.Store.Users(), s} }

type hookedUsers struct {
	store.Collection[store.User]
	s *usersHook
}

func (c hookedUsers) Get(ctx context.Context, key string) (store.User, error) {
	u, err := c.Collection.Get(ctx, key)
	c.s.mu.Lock()
	fn := c.s.after
	c.s.after = nil
	c.s.mu.Unlock()
	if fn != nil {
		fn()
	}
	return u, err
}

// hooked puts a usersHook between h's provider and its store.
func hooked(h *harness) *usersHook {
	hook := &usersHook{Store: h.p.Store}
	h.p.Store = hook
	return hook
}

// armPasswordChange: the next Users().Get runs an admin's `user passwd
// alice` (new hash, then EndUser) in its own transaction, as the command
// does, before the read's caller sees the user it read.
func armPasswordChange(t *testing.T, hook *usersHook) *bool {
	db := hook.Store.(*sqldb.DB)
	ctx := context.Background()
	ran := new(bool)
	hook.mu.Lock()
	defer hook.mu.Unlock()
	hook.after = func() {
		*ran = true
		err := db.InTx(ctx, func(tx store.Tenant) error {
			if err := tx.Users().Update(ctx, "alice", func(u store.User) (store.User, error) {
				u.PasswordHash = hash(t, "a new password")
				return u, nil
			}); err != nil {
				return err
			}
			_, err := tx.EndUser(ctx, "alice", time.Now().Add(24*time.Hour))
			return err
		})
		if err != nil {
			t.Error(err)
		}
	}
	return ran
}

// codeIn returns the code of an answer to /authorize, or "".
func codeIn(resp *http.Response) string {
	resp.Body.Close()
	u, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || !strings.HasPrefix(resp.Header.Get("Location"), webRedirect) {
		return ""
	}
	return u.Query().Get("code")
}

// TestSignInRacingPasswordChangeKeepsNoSession: a sign-in whose old
// password was checked while the password changed keeps no session that
// wins codes or tokens, and is refused as a failed login.
func TestSignInRacingPasswordChangeKeepsNoSession(t *testing.T) {
	h := newHarness(t)
	ran := armPasswordChange(t, hooked(h))
	b := h.browser()
	resp := h.login(b, "alice", pw, nil)
	page := body(t, resp)
	if !*ran {
		t.Fatal("the password change did not run during the sign-in")
	}
	if resp.StatusCode == http.StatusSeeOther {
		t.Errorf("the sign-in straddling the password change succeeded (303 to %s)", resp.Header.Get("Location"))
	} else if resp.StatusCode != http.StatusOK || !strings.Contains(page, badLogin) {
		t.Errorf("refused sign-in: %d, want the login form with %q", resp.StatusCode, badLogin)
	}
	if ev, ok := h.audit.last(audit.LoginFailed); !ok || ev.Detail["reason"] != "user_changed" || ev.Actor != "alice" {
		t.Errorf("audit: %+v (found %v), want a login failure of reason %q", ev, ok, "user_changed")
	}
	if _, ok := h.audit.last(audit.LoginSucceeded); ok {
		t.Error("a refused sign-in was recorded as a success")
	}
	if code := codeIn(h.authorize(b, authParams("scope", "openid offline_access"))); code != "" {
		r := h.redeem(code)
		t.Fatalf("the session of the sign-in straddling the password change won a code (redeemed: %d %s)", r.Status, r.Error)
	}
	// The new password signs in as ever.
	resp = h.login(h.browser(), "alice", "a new password", nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in with the new password: %d", resp.StatusCode)
	}
}

// TestAuthorizeRacingPasswordChangeIssuesNoGrant: /authorize that read the
// session just before the password change ended it gives the app no code,
// so no grant (with offline_access, a refresh token for 90 days) outlives
// the change; it sends the person to sign in again, as for any ended
// session.
func TestAuthorizeRacingPasswordChangeIssuesNoGrant(t *testing.T) {
	h := newHarness(t)
	hook := hooked(h)
	b := h.signedIn("alice")
	ran := armPasswordChange(t, hook)
	resp := h.authorize(b, authParams("scope", "openid offline_access"))
	loc := resp.Header.Get("Location")
	code := codeIn(resp)
	if !*ran {
		t.Fatal("the password change did not run during the authorization")
	}
	if code != "" {
		r := h.redeem(code)
		if r.Status == http.StatusOK && r.Refresh != "" {
			if rr := refresh(h, r.Refresh); rr.Status == http.StatusOK {
				t.Errorf("the grant of a code issued on the ended session still refreshes")
			}
		}
		t.Fatalf("a code was issued on the session the password change ended (redeemed: %d %s)", r.Status, r.Error)
	}
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, h.url("/authorize?")) {
		t.Fatalf("answer: %d %q, want the request again (which asks for a sign-in)", resp.StatusCode, loc)
	}
	resp, err := b.Get(loc)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if l := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(l, h.url("/login?")) {
		t.Fatalf("the request again: %d %q, want the login page", resp.StatusCode, l)
	}

	// With prompt=none, the app is told at once (login_required), as
	// when the session is gone before the request.
	b = h.browser()
	resp = h.login(b, "alice", "a new password", nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in with the new password: %d", resp.StatusCode)
	}
	ran = armPasswordChange(t, hook)
	q := redirectQuery(t, h.authorize(b, authParams("scope", "openid offline_access", "prompt", "none")), webRedirect)
	if !*ran || q.Get("code") != "" || q.Get("error") != "login_required" {
		t.Fatalf("prompt=none: ran %v, answer %v, want login_required", *ran, q)
	}
}

// TestSessionOfRemovedUserIsNotOfNewUser: a session left over from a
// person removed signs in nobody, not the person added later under the
// same name.
func TestSessionOfRemovedUserIsNotOfNewUser(t *testing.T) {
	h := newHarness(t, noIdleTimeout) // an hour unused must not be why the session ends
	ctx := context.Background()
	b := h.signedIn("alice")
	// Removed without EndUser: the session outlives its person, as one
	// stored in a race with the removal would.
	if err := h.db.Users().Delete(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(time.Hour)
	if err := h.db.Users().Create(ctx, store.User{Username: "alice", PasswordHash: hash(t, "hers")}); err != nil {
		t.Fatal(err)
	}
	resp, err := b.Get(h.url(pathSignedIn))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if l := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.HasSuffix(l, "/login") {
		t.Errorf("/signed-in on the old session: %d %q, want the login page", resp.StatusCode, l)
	}
	if code := codeIn(h.authorize(b, authParams())); code != "" {
		t.Fatal("the old session won a code for the new person")
	}
	if u, ok := h.p.SessionUser(mustRequest(t, b, h.url("/"))); ok {
		t.Fatalf("SessionUser: %q", u.Username)
	}
	// The new person's own session is theirs.
	b2 := h.browser()
	resp = h.login(b2, "alice", "hers", nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the new person signs in: %d", resp.StatusCode)
	}
	if code := codeIn(h.authorize(b2, authParams())); code == "" {
		t.Fatal("the new person's session won no code")
	}
}

// mustRequest is a request to u carrying b's cookies for it.
func mustRequest(t *testing.T, b *http.Client, u string) *http.Request {
	t.Helper()
	r, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	pu, _ := url.Parse(u)
	for _, c := range b.Jar.Cookies(pu) {
		r.AddCookie(c)
	}
	return r
}
