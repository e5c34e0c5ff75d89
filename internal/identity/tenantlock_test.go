package identity

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// whileTenantLocked runs fn while another transaction holds the tenant's
// lock (as an apply of a tenant file does while it hashes and checks its
// passwords, or an admin command, on any replica) and changes nothing of
// the people fn signs in, and reports whether fn ended before that
// transaction did. The transaction waits for fn to end, at most hold.
func whileTenantLocked(t *testing.T, h *harness, hold time.Duration, fn func()) bool {
	t.Helper()
	ctx := context.Background()
	locked, done, released := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	overlapped := false
	go func() {
		released <- h.db.InTx(ctx, func(tx store.Tenant) error {
			if err := tx.Lock(ctx); err != nil {
				close(locked)
				return err
			}
			close(locked)
			select {
			case <-done:
				overlapped = true
			case <-time.After(hold):
			}
			return nil
		})
	}()
	<-locked
	fn()
	close(done)
	if err := <-released; err != nil {
		t.Fatal(err)
	}
	return overlapped
}

// TestSignInBesideTenantLock: a sign-in and an authorization of a person
// whom no transaction changes do not wait for a transaction that holds
// the tenant's lock. They read their person again under the person's own
// lock, which is what a change of the person takes; the tenant's lock,
// held as long as an apply takes to check every password of its file,
// would hold every sign-in of every replica with it.
func TestSignInBesideTenantLock(t *testing.T) {
	h := newHarness(t)
	if h.db.Dialect() != "postgres" {
		t.Skip("SQLite has one writer at a time: a sign-in's session waits for any write transaction")
	}
	const hold = 10 * time.Second
	var resp *http.Response
	if !whileTenantLocked(t, h, hold, func() { resp = h.login(h.browser(), "alice", pw, nil) }) {
		t.Errorf("the sign-in waited for a transaction holding the tenant's lock")
	}
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("sign-in: %d, want 303", resp.StatusCode)
	}
	resp.Body.Close()
	b := h.signedIn("bob")
	var code string
	if !whileTenantLocked(t, h, hold, func() { code = codeIn(h.authorize(b, authParams())) }) {
		t.Errorf("the authorization waited for a transaction holding the tenant's lock")
	}
	if code == "" {
		t.Error("the authorization gave no code")
	}
}
