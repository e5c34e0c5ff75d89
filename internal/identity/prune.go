package identity

// Clients that added themselves are removed when nobody used them. Anyone
// may register a client (RegistrationsPerIP an hour per address) or name a
// client ID metadata document, and each leaves a record of up to 64 KiB
// and moves the tenant's revision, after which every replica's gateway
// reloads every client. A client someone signed in through holds their
// consent (and codes, refresh tokens) and stays; one that holds nothing
// after UnusedClientTTL is removed, in batches, by the same removal an
// administrator's is (store.Tenant.PruneClients: EndClient included), and
// each batch is recorded with the IDs it removed.

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/store"
)

const (
	// defaultUnusedClientTTL: a client registers to sign someone in at
	// once (MCP clients register on their first 401); a day leaves room
	// for a sign-in put off.
	defaultUnusedClientTTL = 24 * time.Hour
	// pruneBatch is how many clients one transaction removes, and one
	// audit record names; pruneBatches how many batches one Purge runs at
	// most: at a purge every 10 seconds, 360,000 clients an hour.
	pruneBatch   = 100
	pruneBatches = 10
	// pruneRest is how long Purge waits to look for unused clients again
	// after a look that left none: the look reads every client that added
	// itself and is older than the cut, used ones included.
	pruneRest = time.Minute
)

// txRecorder is an audit trail that appends a change's records in the
// change's own transaction (*audit.Log).
type txRecorder interface {
	InTx(ctx context.Context, change func(tx store.Tenant) ([]audit.Event, error)) (int64, error)
}

// pruneClients removes the clients that added themselves before now less
// UnusedClientTTL and hold nothing, up to pruneBatches batches.
func (p *Provider) pruneClients(ctx context.Context, now time.Time) error {
	ttl := orDefault(p.UnusedClientTTL, defaultUnusedClientTTL)
	if ttl < 0 || now.UnixNano() < p.pruneAfter.Load() {
		return nil
	}
	before := now.Add(-ttl)
	// A removal is kept (ClientEndedAt) as long as the access tokens
	// issued before it may live, as config.EndClient keeps it.
	until := now.Add(max(24*time.Hour, p.accessTTL()))
	for range pruneBatches {
		// A look first, outside any transaction: most purges find
		// nothing, and should then write nothing and lock nothing.
		ids, err := p.Store.UnusedClients(ctx, before, 1)
		if err != nil {
			return fmt.Errorf("look for unused clients: %w", err)
		}
		n := 0
		if len(ids) > 0 {
			if n, err = p.pruneBatch(ctx, before, until); err != nil {
				return err
			}
		}
		if n < pruneBatch {
			p.pruneAfter.Store(now.Add(pruneRest).UnixNano())
			return nil
		}
	}
	return nil
}

// pruneBatch removes up to pruneBatch unused clients and records them in
// one audit event: in the removal's transaction when the trail can
// (*audit.Log), so that no removal goes unrecorded; else right after it.
func (p *Provider) pruneBatch(ctx context.Context, before, until time.Time) (int, error) {
	var removed []string
	prune := func(tx store.Tenant) error {
		var err error
		removed, err = tx.PruneClients(ctx, before, pruneBatch, until)
		return err
	}
	event := func() audit.Event {
		return audit.Event{Type: audit.ClientsPruned, Status: "ok", Detail: map[string]any{
			"clients": len(removed), "client_ids": removed, "reason": "unused",
			"created_before": before.UTC().Format(time.RFC3339)}}
	}
	if tr, ok := p.Audit.(txRecorder); ok {
		_, err := tr.InTx(ctx, func(tx store.Tenant) ([]audit.Event, error) {
			if err := prune(tx); err != nil || len(removed) == 0 {
				return nil, err
			}
			return []audit.Event{event()}, nil
		})
		if err != nil {
			return 0, fmt.Errorf("prune unused clients: %w", err)
		}
	} else {
		if err := p.Store.InTx(ctx, prune); err != nil {
			return 0, fmt.Errorf("prune unused clients: %w", err)
		}
		if len(removed) > 0 {
			if err := p.record(ctx, event()); err != nil {
				return len(removed), err
			}
		}
	}
	if len(removed) > 0 {
		p.log().InfoContext(ctx, "removed clients that registered and were not used", "clients", len(removed),
			"created_before", before)
	}
	return len(removed), nil
}
