package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/sqldb"
)

func init() {
	Register(
		Case{"Identity/PruneClients", testPruneClients},
		Case{"Identity/PruneClientsTwoReplicas", testPruneClientsTwoReplicas},
	)
}

// testPruneClients: only clients that added themselves, hold nothing at
// the identity provider, are older than the cut and were left as they
// registered are removed, oldest first and at most limit a call, each
// ended as a removal ends it; the revision moves once a call that removes
// any, never for one that removes none; a rolled-back transaction removes
// nothing.
func testPruneClients(t *testing.T, db *sqldb.DB) {
	ctx, id := context.Background(), db.Identity()
	now := micro(time.Now())
	reg := func(id string) store.Client {
		return store.Client{ClientID: id, Kind: store.KindAgent, Source: store.SourceRegistered,
			RedirectURIs: []string{"https://x.example/cb"}}
	}
	meta := func(id string) store.Client {
		c := reg(id)
		c.Source = store.SourceMetadata
		return c
	}
	disabled, capped, none := reg("dcr_disabled"), reg("dcr_capped"), reg("dcr_no_tools")
	disabled.Disabled, capped.Tools, none.Tools = true, []string{"echo"}, []string{}
	tenantOwn := reg("app")
	tenantOwn.Source = store.SourceTenant
	older := reg("legacy") // stored before clients had a source
	older.Source = ""
	// Created in the order of their IDs, so that oldest first is also
	// by name when two share a microsecond.
	for _, c := range []store.Client{
		reg("dcr_1"), reg("dcr_2"), tenantOwn, older, reg("dcr_code"), reg("dcr_consent"), reg("dcr_refresh"),
		disabled, capped, none, meta("https://m.example/client"),
	} {
		mustNil(t, db.Clients().Create(ctx, c))
	}
	mustNil(t, id.SetConsent(ctx, store.Consent{Username: "alice", ClientID: "dcr_consent", Scopes: []string{"openid"}}))
	mustNil(t, id.CreateRefreshToken(ctx, store.RefreshToken{Hash: "r1", GrantID: "g1", ClientID: "dcr_refresh",
		Username: "alice", ExpiresAt: now.Add(2 * time.Hour)})) // past until
	// Expired, but stored: its grant may still be in an access token.
	mustNil(t, id.CreateAuthCode(ctx, store.AuthCode{Hash: "c1", ClientID: "dcr_code", Username: "alice",
		GrantID: "g2", ExpiresAt: now.Add(-time.Minute)}))
	rev := func() int64 {
		t.Helper()
		n, err := db.Revision(ctx)
		mustNil(t, err)
		return n
	}
	cut := micro(time.Now()).Add(time.Minute) // every client above is older
	until := now.Add(time.Hour)
	want := []string{"dcr_1", "dcr_2", "https://m.example/client"}

	// Too young: none is removed, and nothing is written.
	r0 := rev()
	for _, limit := range []int{0, -1, 100} {
		got, err := db.PruneClients(ctx, now.Add(-time.Hour), limit, until)
		if err != nil || len(got) != 0 {
			t.Fatalf("PruneClients(an hour before they were created, %d): %v, %v; want none", limit, got, err)
		}
	}
	if r := rev(); r != r0 {
		t.Errorf("a prune that removed nothing moved the revision from %d to %d", r0, r)
	}

	// UnusedClients only looks.
	got, err := db.UnusedClients(ctx, cut, 100)
	mustNil(t, err)
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("UnusedClients (-want +got):\n%s", d)
	}
	if got, _ := db.UnusedClients(ctx, cut, 2); !slices.Equal(got, want[:2]) {
		t.Errorf("UnusedClients(limit 2) = %v, want %v", got, want[:2])
	}
	if r := rev(); r != r0 {
		t.Errorf("UnusedClients moved the revision")
	}

	// A transaction that fails removes nothing.
	boom := errors.New("boom")
	err = db.InTx(ctx, func(tx store.Tenant) error {
		if got, err := tx.PruneClients(ctx, cut, 100, until); err != nil || len(got) != len(want) {
			return fmt.Errorf("PruneClients in a transaction: %v, %v", got, err)
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if _, err := db.Clients().Get(ctx, "dcr_1"); err != nil {
		t.Fatalf("a rolled-back prune removed a client: %v", err)
	}
	if at, _ := id.ClientEndedAt(ctx, "dcr_1"); !at.IsZero() {
		t.Fatal("a rolled-back prune kept a removal")
	}

	// At most limit, oldest first; the revision moves once a call.
	got, err = db.PruneClients(ctx, cut, 2, until)
	mustNil(t, err)
	if !slices.Equal(got, want[:2]) {
		t.Errorf("PruneClients(limit 2) = %v, want %v", got, want[:2])
	}
	if r := rev(); r != r0+1 {
		t.Errorf("after a prune that removed 2, revision %d, want %d", r, r0+1)
	}
	got, err = db.PruneClients(ctx, cut, 100, until)
	mustNil(t, err)
	if !slices.Equal(got, want[2:]) {
		t.Errorf("PruneClients again = %v, want %v", got, want[2:])
	}
	if got, err := db.PruneClients(ctx, cut, 100, until); err != nil || len(got) != 0 {
		t.Errorf("a third PruneClients: %v, %v; want none", got, err)
	}
	if r := rev(); r != r0+2 {
		t.Errorf("after two prunes that removed some and one that removed none, revision %d, want %d", r, r0+2)
	}
	for _, c := range want {
		if _, err := db.Clients().Get(ctx, c); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("client %s after the prune: %v", c, err)
		}
		// Removed as an administrator removes a client: the removal is
		// kept until until, so that no token issued before it stands for a
		// client added again under the ID (a metadata client is).
		if at, err := id.ClientEndedAt(ctx, c); err != nil || at.IsZero() {
			t.Errorf("client %s's removal: %v %v", c, at, err)
		}
	}
	for _, c := range []string{"app", "legacy", "dcr_code", "dcr_consent", "dcr_refresh", "dcr_disabled", "dcr_capped", "dcr_no_tools"} {
		if _, err := db.Clients().Get(ctx, c); err != nil {
			t.Errorf("client %s, which the prune must keep: %v", c, err)
		}
	}
	if _, err := id.Consent(ctx, "alice", "dcr_consent"); err != nil {
		t.Errorf("the consent of a kept client: %v", err)
	}
	n, err := id.PurgeIdentity(ctx, until.Add(time.Minute))
	mustNil(t, err)
	if at, _ := id.ClientEndedAt(ctx, "dcr_1"); !at.IsZero() || n == 0 {
		t.Errorf("a pruned client's removal outlived until (%d purged)", n)
	}

	// Once what a client holds is gone (its code purged), it goes too.
	got, err = db.PruneClients(ctx, cut, 100, until)
	mustNil(t, err)
	if !slices.Equal(got, []string{"dcr_code"}) {
		t.Errorf("after the code's purge, PruneClients = %v, want [dcr_code]", got)
	}
}

// testPruneClientsTwoReplicas: replicas pruning at once never remove the
// same client twice (each names only what it removed, for its audit
// record), and between them remove all.
func testPruneClientsTwoReplicas(t *testing.T, db *sqldb.DB) {
	ctx := context.Background()
	other := SecondHandle(t, db)
	const clients = 60
	for i := range clients {
		mustNil(t, db.Clients().Create(ctx, store.Client{ClientID: fmt.Sprintf("dcr_%03d", i), Kind: store.KindAgent,
			Source: store.SourceRegistered}))
	}
	cut := micro(time.Now()).Add(time.Minute)
	until := cut.Add(time.Hour)
	var (
		mu      sync.Mutex
		removed = map[string]int{}
		wg      sync.WaitGroup
		errs    = make(chan error, 8)
	)
	for i := range 8 {
		h := db
		if i%2 == 1 {
			h = other
		}
		wg.Go(func() {
			for {
				got, err := h.PruneClients(ctx, cut, 5, until)
				if err != nil {
					errs <- err
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, id := range got {
					removed[id]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for id, n := range removed {
		if n != 1 {
			t.Errorf("client %s reported removed %d times", id, n)
		}
	}
	left, err := db.UnusedClients(ctx, cut, 100)
	mustNil(t, err)
	if len(removed) != clients || len(left) != 0 {
		t.Errorf("%d of %d clients removed, %d left", len(removed), clients, len(left))
	}
}
