package identity

import (
	"context"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/sqldb"
	"github.com/gatehouse/gatehouse/internal/store/storetest"
)

// rolesHook is the provider's store, running after (when set) once, right
// after a transaction of the provider's has listed the roles.
type rolesHook struct {
	Store
	mu    sync.Mutex
	after func()
}

func (s *rolesHook) InTx(ctx context.Context, fn func(tx store.Tenant) error) error {
	return s.Store.InTx(ctx, func(tx store.Tenant) error { return fn(hookedTx{tx, s}) })
}

type hookedTx struct {
	store.Tenant
	s *rolesHook
}

func (t hookedTx) Roles() store.Collection[store.Role] { return hookedRoles{t.Tenant.Roles(), t.s} }

type hookedRoles struct {
	store.Collection[store.Role]
	s *rolesHook
}

func (c hookedRoles) List(ctx context.Context) ([]store.Role, error) {
	rs, err := c.Collection.List(ctx)
	c.s.mu.Lock()
	fn := c.s.after
	c.s.after = nil
	c.s.mu.Unlock()
	if fn != nil {
		fn()
	}
	return rs, err
}

// TestFederatedSignInRacesRoleRemoveOnPostgres: on PostgreSQL, a `role
// remove` (on another host) that runs while a federated sign-in has read
// which roles exist, and before it stores its person, never leaves the
// person holding the role removed: the sign-in holds the tenant's lock
// from before that read, so the removal waits for it and then takes the
// role from the person it stored. (On SQLite one writer at a time makes
// the same order.)
func TestFederatedSignInRacesRoleRemoveOnPostgres(t *testing.T) {
	if os.Getenv("GATEHOUSE_TEST_POSTGRES") == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("GATEHOUSE_TEST_POSTGRES is not set: PostgreSQL tests are required under CI=true")
		}
		t.Skip("GATEHOUSE_TEST_POSTGRES is not set: skipping the PostgreSQL run")
	}
	openBackend = func(tb testing.TB) *sqldb.DB { return storetest.OpenPostgres(tb.(*testing.T)) }
	defer func() { openBackend = nil }()
	h, _ := fedHarness(t)
	db := h.p.Store.(*sqldb.DB)
	hook := &rolesHook{Store: h.p.Store}
	h.p.Store = hook
	removed := make(chan error, 1)
	hook.after = func() {
		// `role remove sales-manager`, as the command makes it.
		go func() {
			ctx := context.Background()
			removed <- db.InTx(ctx, func(tx store.Tenant) error {
				if err := tx.Lock(ctx); err != nil {
					return err
				}
				if err := tx.Roles().Delete(ctx, "sales-manager"); err != nil {
					return err
				}
				_, err := config.TakeRole(ctx, tx, "sales-manager")
				return err
			})
		}()
		// The removal commits now unless it waits for this sign-in.
		select {
		case err := <-removed:
			removed <- err
		case <-time.After(500 * time.Millisecond):
		}
	}
	body(t, fedSignIn(t, h, h.browser(), authParams()))
	hook.mu.Lock()
	ran := hook.after == nil
	hook.mu.Unlock()
	if !ran {
		t.Fatal("the sign-in listed no roles in a transaction of its own")
	}
	if err := <-removed; err != nil {
		t.Fatal(err)
	}
	u, err := db.Users().Get(t.Context(), "okta:00u1")
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(u.Roles, "sales-manager") {
		t.Errorf("the person holds sales-manager, removed while they signed in: %v", u.Roles)
	}
}
