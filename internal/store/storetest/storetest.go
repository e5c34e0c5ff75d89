// Package storetest is the conformance suite every store backend passes:
// the same tests, run against SQLite always and PostgreSQL whenever
// GATEHOUSE_TEST_POSTGRES is set.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/sqldb"
)

// Case is one conformance test. Packages that keep tables of their own
// (audit, identity, slips) add cases with Register from an init function in
// a file of this package.
type Case struct {
	Name string
	Fn   func(t *testing.T, s *sqldb.DB)
}

var registered []Case

// Register adds cases to the suite.
func Register(cs ...Case) { registered = append(registered, cs...) }

// Run runs the suite; newStore returns a new, empty store for each test.
func Run(t *testing.T, newStore func(t *testing.T) *sqldb.DB) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"ConsumeOnce", testConsume},
		{"UsersCRUD", testUsers},
		{"EveryCollection", testEveryCollection},
		{"UpdateAborts", testUpdateAborts},
		{"UpdateIsAtomic", testUpdateAtomic},
		{"TransactionRollsBack", testTxRollback},
		{"TransactionCommits", testTxCommit},
		{"Revision", testRevision},
		{"Settings", testSettings},
		{"Lock", testLock},
		{"Ping", func(t *testing.T, s store.Store) {
			if err := s.Ping(context.Background()); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newStore(t)) })
	}
	for _, c := range registered {
		t.Run(c.Name, func(t *testing.T) { c.Fn(t, newStore(t)) })
	}
}

// testConsume races many consumers of one id: exactly one wins.
func testConsume(t *testing.T, s store.Store) {
	ctx := context.Background()
	exp := time.Now().Add(time.Minute)
	const n = 16
	var wg sync.WaitGroup
	wins := make(chan bool, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			first, err := s.Consume(ctx, "slip", "jti-1", exp)
			if err != nil {
				t.Error(err)
			}
			wins <- first
		}()
	}
	wg.Wait()
	close(wins)
	won := 0
	for w := range wins {
		if w {
			won++
		}
	}
	if won != 1 {
		t.Errorf("%d consumers won, want exactly 1", won)
	}
	// Another kind with the same id is another thing.
	if first, _ := s.Consume(ctx, "code", "jti-1", exp); !first {
		t.Errorf("same id of another kind was refused")
	}
	// Expired markers are purged; live ones stay.
	if _, err := s.Consume(ctx, "slip", "old", time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	n2, err := s.PurgeConsumed(ctx, time.Now())
	mustNil(t, err)
	if n2 != 1 {
		t.Errorf("purged %d, want 1", n2)
	}
	if first, _ := s.Consume(ctx, "slip", "jti-1", exp); first {
		t.Errorf("a live marker was purged")
	}
}

var ignoreTimes = cmpopts.IgnoreFields(store.User{}, "CreatedAt", "UpdatedAt")

func testUsers(t *testing.T, s store.Store) {
	ctx := context.Background()
	u := store.User{Username: "alice", Email: "alice@acme.example", PasswordHash: "$argon2id$x",
		Roles: []string{"sales-manager"}, Attributes: map[string]string{"region": "emea"}}
	if err := s.Users().Create(ctx, u); err != nil {
		t.Fatalf("Create: %v", err)
	}
	if err := s.Users().Create(ctx, u); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("Create twice: got %v, want ErrConflict", err)
	}
	got, err := s.Users().Get(ctx, "alice")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if diff := cmp.Diff(u, got, ignoreTimes); diff != "" {
		t.Errorf("Get (-want +got):\n%s", diff)
	}
	if got.CreatedAt.IsZero() || got.UpdatedAt.IsZero() {
		t.Errorf("timestamps not set: %+v", got)
	}
	if _, err := s.Users().Get(ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get missing: got %v, want ErrNotFound", err)
	}
	err = s.Users().Update(ctx, "alice", func(old store.User) (store.User, error) {
		old.Email = "a@acme.example"
		return old, nil
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	got, _ = s.Users().Get(ctx, "alice")
	if got.Email != "a@acme.example" {
		t.Errorf("after Update: email %q", got.Email)
	}
	err = s.Users().Update(ctx, "alice", func(old store.User) (store.User, error) {
		old.Username = "mallory"
		return old, nil
	})
	if err == nil {
		t.Errorf("Update that renames: want an error")
	}
	if err := s.Users().Update(ctx, "nobody", func(o store.User) (store.User, error) { return o, nil }); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Update missing: got %v, want ErrNotFound", err)
	}
	if err := s.Users().Create(ctx, store.User{Username: "bob"}); err != nil {
		t.Fatal(err)
	}
	list, err := s.Users().List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, u := range list {
		names = append(names, u.Username)
	}
	if diff := cmp.Diff([]string{"alice", "bob"}, names); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
	if err := s.Users().Delete(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := s.Users().Delete(ctx, "alice"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Delete twice: got %v, want ErrNotFound", err)
	}
	if err := s.Users().Create(ctx, store.User{}); err == nil {
		t.Errorf("Create with no name: want an error")
	}
}

// testEveryCollection round-trips a full record of every kind.
func testEveryCollection(t *testing.T, s store.Store) {
	ctx := context.Background()
	ign := cmpopts.IgnoreFields
	check := func(name string, err error, want, got any, opts ...cmp.Option) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if diff := cmp.Diff(want, got, opts...); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
	r := store.Role{Name: "admin", Description: "runs the dashboard", BuiltIn: true}
	mustNil(t, s.Roles().Create(ctx, r))
	gr, err := s.Roles().Get(ctx, "admin")
	check("role", err, r, gr, ign(store.Role{}, "CreatedAt", "UpdatedAt"))

	for _, c := range []store.Client{
		{ClientID: "acme-assistant", Kind: store.KindAgent, RedirectURIs: []string{"http://127.0.0.1:9000/callback"},
			Tools: []string{"sales_report"}, Source: store.SourceTenant},
		{ClientID: "nocap", Kind: store.KindAgent},
		{ClientID: "capnothing", Kind: store.KindAgent, Tools: []string{}},
		{ClientID: "billing-api", Kind: store.KindService, SecretHash: "$argon2id$y"},
	} {
		mustNil(t, s.Clients().Create(ctx, c))
		gc, err := s.Clients().Get(ctx, c.ClientID)
		// nil (no cap) and empty (no tool) must stay apart.
		check("client "+c.ClientID, err, c, gc, ign(store.Client{}, "CreatedAt", "UpdatedAt"))
		if (c.Tools == nil) != (gc.Tools == nil) {
			t.Errorf("client %s: tool cap nil=%v came back nil=%v", c.ClientID, c.Tools == nil, gc.Tools == nil)
		}
	}

	tl := store.Tool{Name: "refund", Description: "Refund", HTTP: &store.HTTPBackend{Method: "POST", URL: "http://127.0.0.1:9200/refund", ClientID: "billing-api"},
		InputSchema: json.RawMessage(`{"type":"object"}`), Roles: []string{"support"}, When: "context.args.amount <= 50", Status: store.ToolActive}
	mustNil(t, s.Tools().Create(ctx, tl))
	gt, err := s.Tools().Get(ctx, "refund")
	check("tool", err, tl, gt, ign(store.Tool{}, "CreatedAt", "UpdatedAt"))
	if gt.Backend() != "http" {
		t.Errorf("Backend() = %q", gt.Backend())
	}

	up := store.Upstream{Name: "crm", Command: []string{"crm-mcp-server", "--stdio"}}
	mustNil(t, s.Upstreams().Create(ctx, up))
	gu, err := s.Upstreams().Get(ctx, "crm")
	check("upstream", err, up, gu, ign(store.Upstream{}, "CreatedAt", "UpdatedAt"))

	k := store.SigningKey{ID: "k1", Alg: "EdDSA", Private: []byte{1, 2, 3}, Public: []byte(`{"kty":"OKP"}`),
		ActiveFrom: time.Unix(1690000000, 0).UTC(), RetiredAt: time.Unix(1700000000, 0).UTC()}
	mustNil(t, s.Keys().Create(ctx, k))
	gk, err := s.Keys().Get(ctx, "k1")
	check("key", err, k, gk, ign(store.SigningKey{}, "CreatedAt", "UpdatedAt"))
}

func testUpdateAborts(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustNil(t, s.Roles().Create(ctx, store.Role{Name: "support", Description: "before"}))
	boom := errors.New("boom")
	err := s.Roles().Update(ctx, "support", func(old store.Role) (store.Role, error) {
		old.Description = "after"
		return old, boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update: got %v, want the callback's error", err)
	}
	got, _ := s.Roles().Get(ctx, "support")
	if got.Description != "before" {
		t.Errorf("aborted Update changed the record: %q", got.Description)
	}
}

// testUpdateAtomic runs concurrent read-modify-writes: none may be lost.
func testUpdateAtomic(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustNil(t, s.Users().Create(ctx, store.User{Username: "carol"}))
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- s.Users().Update(ctx, "carol", func(old store.User) (store.User, error) {
				old.Roles = append(old.Roles, fmt.Sprintf("r%02d", i))
				return old, nil
			})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent Update: %v", err)
		}
	}
	got, _ := s.Users().Get(ctx, "carol")
	sort.Strings(got.Roles)
	if len(got.Roles) != n {
		t.Errorf("lost updates: %d of %d roles kept: %v", len(got.Roles), n, got.Roles)
	}
}

func testTxRollback(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustNil(t, s.Roles().Create(ctx, store.Role{Name: "keep"}))
	before, _ := s.Revision(ctx)
	boom := errors.New("boom")
	err := s.InTx(ctx, func(tx store.Tenant) error {
		mustNil(t, tx.Roles().Create(ctx, store.Role{Name: "temp"}))
		mustNil(t, tx.Roles().Delete(ctx, "keep"))
		mustNil(t, tx.Users().Create(ctx, store.User{Username: "dave"}))
		// A conflict inside a transaction must not poison it.
		if err := tx.Roles().Create(ctx, store.Role{Name: "temp"}); !errors.Is(err, store.ErrConflict) {
			t.Errorf("conflict in tx: got %v", err)
		}
		if _, err := tx.Roles().Get(ctx, "temp"); err != nil {
			t.Errorf("read after conflict in tx: %v", err)
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("InTx: got %v, want fn's error", err)
	}
	if _, err := s.Roles().Get(ctx, "temp"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("rolled-back create is visible: %v", err)
	}
	if _, err := s.Roles().Get(ctx, "keep"); err != nil {
		t.Errorf("rolled-back delete took effect: %v", err)
	}
	if _, err := s.Users().Get(ctx, "dave"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("rolled-back user is visible: %v", err)
	}
	after, _ := s.Revision(ctx)
	if after != before {
		t.Errorf("revision moved on rollback: %d → %d", before, after)
	}
}

func testTxCommit(t *testing.T, s store.Store) {
	ctx := context.Background()
	err := s.InTx(ctx, func(tx store.Tenant) error {
		if err := tx.Roles().Create(ctx, store.Role{Name: "a"}); err != nil {
			return err
		}
		return tx.Roles().Update(ctx, "a", func(r store.Role) (store.Role, error) {
			r.Description = "changed in the same tx"
			return r, nil
		})
	})
	mustNil(t, err)
	got, err := s.Roles().Get(ctx, "a")
	mustNil(t, err)
	if got.Description != "changed in the same tx" {
		t.Errorf("got %+v", got)
	}
}

func testRevision(t *testing.T, s store.Store) {
	ctx := context.Background()
	r0, err := s.Revision(ctx)
	mustNil(t, err)
	mustNil(t, s.Roles().Create(ctx, store.Role{Name: "x"}))
	r1, _ := s.Revision(ctx)
	if r1 <= r0 {
		t.Errorf("Create did not bump the revision: %d → %d", r0, r1)
	}
	mustNil(t, s.InTx(ctx, func(tx store.Tenant) error {
		mustNil(t, tx.Roles().Create(ctx, store.Role{Name: "y"}))
		return tx.Roles().Delete(ctx, "x")
	}))
	r2, _ := s.Revision(ctx)
	if r2 <= r1 {
		t.Errorf("a transaction did not bump the revision: %d → %d", r1, r2)
	}
	_, _ = s.Roles().Get(ctx, "y")
	r3, _ := s.Revision(ctx)
	if r3 != r2 {
		t.Errorf("a read bumped the revision: %d → %d", r2, r3)
	}
}

func testSettings(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, err := s.Setting(ctx, "tenant"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing setting: got %v", err)
	}
	mustNil(t, s.SetSetting(ctx, "tenant", "acme"))
	mustNil(t, s.SetSetting(ctx, "tenant", "acme2"))
	v, err := s.Setting(ctx, "tenant")
	mustNil(t, err)
	if v != "acme2" {
		t.Errorf("setting = %q", v)
	}
}

// testLock: transactions that Lock before reading decide one after the
// other (a read-then-write loses no update); outside a transaction Lock
// is an error.
func testLock(t *testing.T, s store.Store) {
	ctx := context.Background()
	if err := s.Lock(ctx); err == nil {
		t.Error("Lock outside a transaction succeeded")
	}
	const workers, each = 4, 5
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				err := s.InTx(ctx, func(tx store.Tenant) error {
					if err := tx.Lock(ctx); err != nil {
						return err
					}
					n := 0
					v, err := tx.Setting(ctx, "counter")
					if err == nil {
						n, err = strconv.Atoi(v)
					}
					if err != nil && !errors.Is(err, store.ErrNotFound) {
						return err
					}
					return tx.SetSetting(ctx, "counter", strconv.Itoa(n+1))
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	v, err := s.Setting(ctx, "counter")
	mustNil(t, err)
	if v != strconv.Itoa(workers*each) {
		t.Errorf("counter = %s after %d locked increments", v, workers*each)
	}
}

func mustNil(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
