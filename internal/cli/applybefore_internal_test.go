package cli

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/sqldb"
	"github.com/gatehouse/gatehouse/internal/store/storetest"
)

// meddlingTenant is a transaction's tenant whose first Lock lets another
// host's change commit just before it waits for the lock.
type meddlingTenant struct {
	store.Tenant
	meddle func()
}

func (m *meddlingTenant) Lock(ctx context.Context) error {
	if m.meddle != nil {
		m.meddle()
		m.meddle = nil
	}
	return m.Tenant.Lock(ctx)
}

// meddledTrail runs each change in a transaction of st, the first through
// a meddlingTenant, and keeps the events it would record.
type meddledTrail struct {
	st     *sqldb.DB
	meddle func()
	events []audit.Event
}

func (m *meddledTrail) InTx(ctx context.Context, change func(store.Tenant) ([]audit.Event, error)) (int64, error) {
	return 0, m.st.InTx(ctx, func(tx store.Tenant) error {
		meddle := m.meddle
		m.meddle = nil // once
		evs, err := change(&meddlingTenant{Tenant: tx, meddle: meddle})
		m.events = evs
		return err
	})
}

// TestApplyRecordsBeforeUnderTheLock: on PostgreSQL, with another host's
// admin command (user grant) committed while an apply is under way, the
// apply's record says what the record held when the apply changed it: the
// snapshot of "before" is taken under the tenant's lock, as the admin
// commands take theirs. Read before the lock, it showed a state the apply
// never saw, and hid that the apply took the admin role away.
func TestApplyRecordsBeforeUnderTheLock(t *testing.T) {
	st := storetest.OpenPostgres(t)
	ctx := context.Background()
	if err := st.Roles().Create(ctx, store.Role{Name: store.AdminRole, BuiltIn: true}); err != nil {
		t.Fatal(err)
	}
	if err := st.Roles().Create(ctx, store.Role{Name: "sales"}); err != nil {
		t.Fatal(err)
	}
	if err := st.Users().Create(ctx, store.User{Username: "alice", Email: "alice@acme.example", Roles: []string{"sales"}}); err != nil {
		t.Fatal(err)
	}
	f, err := config.Parse(strings.NewReader(`tenant: acme
roles: [{name: sales}, {name: hr}]
users:
  - {username: alice, email: alice@acme.example, roles: [hr, sales]}
`), "acme.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Validate(builtinTools); err != nil {
		t.Fatal(err)
	}
	trail := &meddledTrail{st: st}
	trail.meddle = func() {
		// Another host grants alice the admin role, outside the apply's
		// transaction.
		if err := st.Users().Update(ctx, "alice", func(u store.User) (store.User, error) {
			u.Roles = []string{store.AdminRole, "sales"}
			return u, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	plan, err := applyAudited(ctx, st, trail, "someone", f, nil)
	if err != nil {
		t.Fatal(err)
	}
	var before map[string]any
	for i, c := range plan {
		if c.Kind == "user" && c.Name == "alice" {
			before, _ = trail.events[i].Detail["before"].(map[string]any)
		}
	}
	if before == nil {
		t.Fatalf("no record of alice's change: plan %v", plan)
	}
	roles, _ := before["roles"].([]any)
	if !slices.Contains(roles, any(store.AdminRole)) {
		t.Errorf("the record's before shows alice's roles as %v: the admin role she held when the apply took it away is not there", roles)
	}
}

// TestApplyAtOnceOnTwoHosts: two replicas started at once on one
// PostgreSQL database, each applying the same tenant file (serve
// --tenant), both start: the one that finds the file applied by the other
// between its plan and its change plans again, rather than failing (and
// the server with it) on "the store changed".
func TestApplyAtOnceOnTwoHosts(t *testing.T) {
	st := storetest.OpenPostgres(t)
	other := storetest.SecondHandle(t, st)
	ctx := context.Background()
	f, err := config.Parse(strings.NewReader(`tenant: acme
roles: [{name: sales}]
users:
  - {username: alice, roles: [sales]}
`), "acme.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Validate(builtinTools); err != nil {
		t.Fatal(err)
	}
	first := &meddledTrail{st: other}
	trail := &meddledTrail{st: st}
	trail.meddle = func() {
		// The other replica applies the file, between this one's plan and
		// its change.
		if _, err := applyAudited(ctx, other, first, "replica-1", f, nil); err != nil {
			t.Errorf("the first replica's apply: %v", err)
		}
	}
	plan, err := applyAudited(ctx, st, trail, "replica-2", f, nil)
	if err != nil {
		t.Fatalf("the second replica's apply of the same file: %v", err)
	}
	if len(plan) != 0 {
		t.Errorf("the second replica changed %v after the first applied the same file", plan)
	}
}
