package gateway

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/gatehouse/gatehouse/internal/policy"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/sqldb"
	"github.com/gatehouse/gatehouse/internal/store/storetest"
)

// toolsHookStore runs after once its tools have been listed: another
// replica's change committed while a reload reads the tenant.
type toolsHookStore struct {
	store.Store
	after func()
}

func (s toolsHookStore) Tools() store.Collection[store.Tool] {
	return toolsHookCollection{s.Store.Tools(), s.after}
}

type toolsHookCollection struct {
	store.Collection[store.Tool]
	after func()
}

func (c toolsHookCollection) List(ctx context.Context) ([]store.Tool, error) {
	ts, err := c.Collection.List(ctx)
	if c.after != nil {
		c.after()
	}
	return ts, err
}

// TestReloadReadsOneRevision: an admin change, in one transaction, takes
// the role admin off the tool drop_tables and gives it to bob. Neither
// the tenant before it nor after it lets bob run drop_tables. A reload
// that reads the tools before the change commits and the people after it
// must not publish a catalogue of both (the old tool, the new bob), which
// lets bob run it. Before, the reload read each table on its own and
// published that mix, until the next poll.
func TestReloadReadsOneRevision(t *testing.T) {
	tornLoad(t, storetest.OpenPostgres(t))
}

func TestReloadReadsOneRevisionSQLite(t *testing.T) {
	tornLoad(t, storetest.OpenSQLite(t))
}

func tornLoad(t *testing.T, st *sqldb.DB) {
	ctx := context.Background()
	if err := st.Tools().Create(ctx, store.Tool{Name: "drop_tables", Builtin: "sales_report", Roles: []string{"admin"}}); err != nil {
		t.Fatal(err)
	}
	if err := st.Users().Create(ctx, store.User{Username: "bob", Roles: []string{"dev"}}); err != nil {
		t.Fatal(err)
	}
	other := storetest.SecondHandle(t, st)
	once := false
	hooked := toolsHookStore{Store: st, after: func() {
		if once {
			return
		}
		once = true
		err := other.InTx(ctx, func(tx store.Tenant) error {
			if err := tx.Tools().Update(ctx, "drop_tables", func(tool store.Tool) (store.Tool, error) {
				tool.Roles = []string{"owner"}
				return tool, nil
			}); err != nil {
				return err
			}
			return tx.Users().Update(ctx, "bob", func(bob store.User) (store.User, error) {
				bob.Roles = []string{"admin"}
				return bob, nil
			})
		})
		if err != nil {
			t.Error(err)
		}
	}}
	d, err := loadTenant(ctx, hooked)
	if err != nil {
		t.Fatal(err)
	}
	cat, _ := buildCatalogue(d, nil)
	bob := cat.users["bob"]
	if got := cat.policy.Visible(policy.Principal{Subject: "bob", Roles: bob.Roles}, policy.Agent{}); slices.Contains(got, "drop_tables") {
		t.Fatalf("catalogue of revision %d: bob (roles %v) may run drop_tables (roles %v); neither the tenant before the change nor after it lets him",
			cat.rev, bob.Roles, cat.tools["drop_tables"].tool.Roles)
	}
}

// TestReloadUnderChurn: changes committing during every read (clients
// registering, one after another) do not keep the catalogue from moving
// on: the reload still reads one revision of the tenant, and publishes it.
func TestReloadUnderChurn(t *testing.T) {
	ctx := context.Background()
	st := storetest.OpenPostgres(t)
	if err := st.Users().Create(ctx, store.User{Username: "bob", Roles: []string{"dev"}}); err != nil {
		t.Fatal(err)
	}
	other := storetest.SecondHandle(t, st)
	n := 0
	hooked := toolsHookStore{Store: st, after: func() {
		n++
		if err := other.Clients().Create(ctx, store.Client{ClientID: fmt.Sprintf("registered-%d", n)}); err != nil {
			t.Error(err)
		}
	}}
	d, err := loadTenant(ctx, hooked)
	if err != nil {
		t.Fatalf("reload with a change committing during each read: %v", err)
	}
	rev, err := st.Revision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d.rev != rev || len(d.clients) != n {
		t.Fatalf("read revision %d with %d clients; the store is at revision %d with %d", d.rev, len(d.clients), rev, n)
	}
}
