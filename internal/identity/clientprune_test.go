package identity

import (
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/store"
)

// TestPurgeOfClientsIsRecorded: each batch of clients a purge removes is
// one clients.pruned record, in the removal's transaction, naming how
// many and which; a purge finds and removes at most pruneBatch clients a
// transaction, and moves the tenant's revision once for each.
func TestPurgeOfClientsIsRecorded(t *testing.T) {
	h := newHarness(t)
	l := h.durableAudit()
	ctx := t.Context()
	const clients = pruneBatch + pruneBatch/2
	for i := range clients {
		if err := h.db.Clients().Create(ctx, store.Client{ClientID: fmt.Sprintf("dcr_%04d", i), Kind: store.KindAgent,
			Source: store.SourceRegistered, RedirectURIs: []string{"https://x.example/cb"}}); err != nil {
			t.Fatal(err)
		}
	}
	rev0, err := h.db.Revision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(25 * time.Hour)
	if err := h.p.Purge(ctx); err != nil {
		t.Fatal(err)
	}
	rev1, err := h.db.Revision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rev1-rev0 != 2 {
		t.Errorf("the purge of %d clients moved the revision %d times, want 2 (one a batch)", clients, rev1-rev0)
	}
	es := stored(t, l, audit.ClientsPruned)
	if len(es) != 2 {
		t.Fatalf("%d clients.pruned records, want 2", len(es))
	}
	var named []string
	for i, e := range es {
		ids, _ := e.Event.Detail["client_ids"].([]any)
		n, _ := e.Event.Detail["clients"].(float64)
		if int(n) != len(ids) || len(ids) != []int{pruneBatch, clients - pruneBatch}[i] {
			t.Errorf("record %d: %v clients, %d IDs", i, e.Event.Detail["clients"], len(ids))
		}
		for _, id := range ids {
			named = append(named, id.(string))
		}
	}
	for i, id := range named {
		if want := fmt.Sprintf("dcr_%04d", i); id != want {
			t.Fatalf("the records name %s at %d, want %s (every client, oldest first)", id, i, want)
		}
	}
	if len(named) != clients {
		t.Errorf("the records name %d clients, want %d", len(named), clients)
	}
	// Nothing left: the next purge writes nothing.
	h.clock.Advance(time.Hour)
	if err := h.p.Purge(ctx); err != nil {
		t.Fatal(err)
	}
	if rev, _ := h.db.Revision(ctx); rev != rev1 {
		t.Errorf("a purge with no client to remove moved the revision")
	}
	if es := stored(t, l, audit.ClientsPruned); len(es) != 2 {
		t.Errorf("a purge with no client to remove was recorded: %d records", len(es))
	}
}

// TestUnusedClientTTL: the option sets how long an unused client stays;
// negative keeps them.
func TestUnusedClientTTL(t *testing.T) {
	for _, tc := range []struct {
		ttl     time.Duration
		advance time.Duration
		kept    bool
	}{
		{ttl: time.Hour, advance: 2 * time.Hour, kept: false},
		{ttl: 7 * 24 * time.Hour, advance: 6 * 24 * time.Hour, kept: true},
		{ttl: -1, advance: 400 * 24 * time.Hour, kept: true},
	} {
		t.Run(tc.ttl.String(), func(t *testing.T) {
			h := newHarness(t, func(p *Provider) { p.UnusedClientTTL = tc.ttl })
			r := h.register(`{"redirect_uris":["https://x.example/cb"]}`)
			id, _ := r.JSON["client_id"].(string)
			h.clock.Advance(tc.advance)
			if err := h.p.Purge(t.Context()); err != nil {
				t.Fatal(err)
			}
			_, err := h.db.Clients().Get(t.Context(), id)
			if kept := err == nil; kept != tc.kept {
				t.Errorf("after %v, kept %t (%v), want %t", tc.advance, kept, err, tc.kept)
			}
		})
	}
}
