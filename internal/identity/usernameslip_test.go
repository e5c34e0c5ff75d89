package identity

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/sqldb"
)

// TestPasswordTypedAsUsernameIsNotKept: a person who types their password
// into the username field (a common slip: the cursor was in the wrong
// field, or the browser filled the username and they typed on) sends a
// secret as the username. The trail kept every failed sign-in's username
// as given, so the password sat in clear in an append-only, exported,
// streamed record for anyone who reads the trail. A name that is no
// user's is now left out of the record (as AWS CloudTrail does with an
// unknown console user): the reason class, the address and the time tell
// an administrator what happened, and a failure against a real person
// still names them. This holds for every reason class, the throttled
// refusal included, which is decided before the name is looked up.
func TestPasswordTypedAsUsernameIsNotKept(t *testing.T) {
	h := newHarness(t, func(p *Provider) { p.MaxFailuresPerUser = 2; p.MaxFailuresPerIP = 100 })
	const slip = "correct horse" // alice's password, typed as the username
	for range 3 {
		body(t, h.login(h.browser(), slip, "alice", nil))
	}
	// A failure against a real person still names them.
	body(t, h.login(h.browser(), "bob", "wrong", nil))

	h.audit.mu.Lock()
	defer h.audit.mu.Unlock()
	var reasons []any
	named := false
	for _, e := range h.audit.events {
		if e.Type != audit.LoginFailed {
			continue
		}
		reasons = append(reasons, e.Detail["reason"])
		if s := fmt.Sprintf("%+v", e); strings.Contains(s, slip) {
			t.Errorf("a failed sign-in's record keeps the password typed as the username: %s", s)
		}
		if e.Actor == "bob" {
			named = true
		}
	}
	if fmt.Sprint(reasons) != "[unknown_user unknown_user throttled bad_password]" {
		t.Errorf("reasons %v, want two unknown_user, a throttled and a bad_password", reasons)
	}
	if !named {
		t.Error("a failure against a real person does not name them")
	}
}

// TestPasswordTypedAsUsernameIsNotLogged: when the store cannot read the
// user (a database gone away), the sign-in's log line carried the store's
// error, which names the key it read: the username as typed, a password
// when it was typed into the wrong field. The line now says what failed
// without the name.
func TestPasswordTypedAsUsernameIsNotLogged(t *testing.T) {
	var logs bytes.Buffer
	h := newHarness(t, func(p *Provider) { p.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	h.p.Store = usersUnreadable{h.p.Store}
	const slip = "correct horse"
	resp := h.login(h.browser(), slip, "alice", nil)
	body(t, resp)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("sign-in while users cannot be read: %d, want 503", resp.StatusCode)
	}
	if !strings.Contains(logs.String(), "read user") {
		t.Fatalf("the failure is not logged:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), slip) {
		t.Errorf("the log keeps the username as typed:\n%s", logs.String())
	}
}

// usersUnreadable is a store whose user reads fail as the store's own do
// when the database does not answer (here: their context has ended).
type usersUnreadable struct{ Store }

func (s usersUnreadable) Users() store.Collection[store.User] {
	return unreadableUsers{s.Store.Users()}
}

type unreadableUsers struct{ store.Collection[store.User] }

func (u unreadableUsers) Get(ctx context.Context, key string) (store.User, error) {
	ctx, cancel := context.WithCancel(ctx)
	cancel()
	return u.Collection.Get(ctx, key)
}

// TestPasswordTypedAsUsernameIsNotStoredInClear: the counter of failed
// sign-ins per username was kept in the database under the name as
// typed, so a password typed into the username field sat in clear in the
// login_attempts table (and in its backups) for the throttle's window.
// It is now kept under the name's digest, and the throttle still holds.
func TestPasswordTypedAsUsernameIsNotStoredInClear(t *testing.T) {
	h := newHarness(t, func(p *Provider) { p.MaxFailuresPerUser = 2; p.MaxFailuresPerIP = 100 })
	const slip = "correct horse"
	for range 2 {
		body(t, h.login(h.browser(), slip, "alice", nil))
	}
	if resp := h.login(h.browser(), slip, "alice", nil); resp.StatusCode != http.StatusTooManyRequests {
		body(t, resp)
		t.Errorf("the third failure under one name: %d, want 429", resp.StatusCode)
	}
	rows, err := h.db.SQL().QueryContext(t.Context(), "SELECT name FROM login_attempts")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		n++
		if strings.Contains(name, slip) {
			t.Errorf("a login counter is stored under the password typed as the username: %q", name)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no login counter stored")
	}
}

// TestSignInRacingRemovalNamesThePerson: a sign-in whose password was
// right when checked, and whose person was removed before its session was
// kept, is refused as user_changed; its record names the person, whose
// name was a user's (the password matched): leaving out unknown names
// (recordedUsername) must not leave out this one, now unknown.
func TestSignInRacingRemovalNamesThePerson(t *testing.T) {
	h := newHarness(t)
	hook := hooked(h)
	db := hook.Store.(*sqldb.DB)
	hook.mu.Lock()
	hook.after = func() {
		if err := db.InTx(context.Background(), func(tx store.Tenant) error {
			if err := tx.Users().Delete(context.Background(), "alice"); err != nil {
				return err
			}
			_, err := tx.EndUser(context.Background(), "alice", time.Now().Add(24*time.Hour))
			return err
		}); err != nil {
			t.Error(err)
		}
	}
	hook.mu.Unlock()
	resp := h.login(h.browser(), "alice", pw, nil)
	body(t, resp)
	if resp.StatusCode == http.StatusSeeOther {
		t.Fatal("the sign-in straddling the removal succeeded")
	}
	if ev, ok := h.audit.last(audit.LoginFailed); !ok || ev.Detail["reason"] != reasonUserChanged || ev.Actor != "alice" {
		t.Errorf("audit: %+v (found %v), want a failure of reason %q naming alice", ev, ok, reasonUserChanged)
	}
}
