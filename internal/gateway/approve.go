package gateway

// Approving an upstream tool's changed definition works on what the
// gateway recorded, not on a connection of the approver's own. A replica
// that sees an upstream serve a definition other than the pinned one
// withholds the tool and records that definition with it, in the store
// (importTools); the admin reviews exactly that record and approves it by
// its hash, and every replica picks the new pin up with the store's
// revision. An approver that connected to the upstream itself (a command
// starting its own copy of a stdio server, say) could see, and pin,
// something no replica serves, and its import would withhold tools the
// replicas serve as approved.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/store"
)

// ErrStaleDefinition is returned by Approve when the definition awaiting
// approval is no longer the one the admin reviewed.
var ErrStaleDefinition = errors.New("the definition awaiting approval is not the reviewed one")

// ToolReview is what an admin reviews before approving an upstream tool:
// the approved definition and the one awaiting approval, each as the
// canonical JSON its SHA-256 (hex) is of. The JSON is the upstream's text:
// render it as data.
type ToolReview struct {
	Tool, Upstream string
	Status         string // the tool's status in the store
	PinnedHash     string // empty when none was approved yet
	// Pinned is the approved definition; nil when none was approved or it
	// was pinned before definitions were kept.
	Pinned json.RawMessage
	// LiveHash and Live are the definition a replica saw the upstream
	// serve, awaiting approval; the pinned one when nothing awaits.
	LiveHash string
	Live     json.RawMessage
}

// NeedsApproval reports whether a definition awaits approval.
func (r ToolReview) NeedsApproval() bool {
	return r.Status == store.ToolPending || r.LiveHash != r.PinnedHash
}

// Review returns the approved definition of an upstream tool and the one
// awaiting approval, as the replicas recorded it.
func Review(ctx context.Context, st store.Tenant, tool string) (ToolReview, error) {
	t, err := st.Tools().Get(ctx, tool)
	if err != nil {
		return ToolReview{}, fmt.Errorf("review %s: %w", tool, err)
	}
	if t.Upstream == "" {
		return ToolReview{}, fmt.Errorf("review %s: not an upstream tool", tool)
	}
	r := ToolReview{Tool: t.Name, Upstream: t.Upstream, Status: t.Status, PinnedHash: t.PinnedHash,
		LiveHash: t.PinnedHash, Live: t.PinnedDefinition}
	if len(t.PinnedDefinition) > 0 {
		r.Pinned = t.PinnedDefinition
	}
	if t.Status == store.ToolPending {
		if t.PendingHash == "" || len(t.PendingDefinition) == 0 {
			return ToolReview{}, fmt.Errorf("review %s: withheld, but no definition is recorded for review: let the server reconnect to upstream %s", tool, t.Upstream)
		}
		r.LiveHash, r.Live = t.PendingHash, t.PendingDefinition
	}
	return r, nil
}

// Approve pins the definition of tool that awaits approval, provided its
// hash is hash (hex SHA-256, as Review reports it): the definition the
// admin reviewed, and nothing an upstream swapped in since. Then a tool
// withheld because its definition changed (or imported pending) can be
// listed and called again on every replica whose upstream serves it. A
// definition with another hash is refused with ErrStaleDefinition and
// changes nothing (the refusal is recorded on rec). Approving the pinned
// definition of an active tool changes nothing. The approved definition is
// remembered for the upstream tool with the pin, in one transaction when
// st is a store, so that removing the name forgets no approval.
func Approve(ctx context.Context, st store.Tenant, rec audit.Recorder, tool, hash string) error {
	hash = strings.ToLower(strings.TrimSpace(hash))
	if hash == "" {
		return fmt.Errorf("approve %s: the hash of the reviewed definition is required", tool)
	}
	r, err := Review(ctx, st, tool)
	if err != nil {
		return err
	}
	if !r.NeedsApproval() && r.PinnedHash == hash {
		return nil
	}
	if r.LiveHash != hash {
		return refuseApproval(ctx, rec, r, hash)
	}
	var old string
	var approved store.Tool
	pin := func(t store.Tool) (store.Tool, error) {
		// It may have changed again while the store was asked.
		if t.Status != store.ToolPending || t.PendingHash != hash {
			return t, ErrStaleDefinition
		}
		old = t.PinnedHash
		if old == "" && t.UpstreamTool == "" {
			// A tool the gateway imported (a tool the tenant declared is
			// pinned on first sight, or, as a second name of one awaiting
			// approval, has an upstream_tool): a description or schema
			// stored with it is a copy of the definition first seen,
			// kept by earlier versions, which would outlive the one
			// approved now.
			t.Description, t.InputSchema = "", nil
		}
		t.PinnedHash, t.PinnedDefinition, t.Status = t.PendingHash, t.PendingDefinition, store.ToolActive
		approved = clearPending(t)
		return approved, nil
	}
	err = inTx(ctx, st, func(tx store.Tenant) error {
		// The tenant's lock before the tool's row, as importTools takes
		// them: a replica importing the tool holds the lock and waits for
		// the row, and an approval holding the row while it waits for the
		// lock (which its write takes) would be a deadlock.
		if err := tx.Lock(ctx); err != nil {
			return err
		}
		if err := tx.Tools().Update(ctx, tool, pin); err != nil {
			return err
		}
		// Remembered apart from the name, which an admin may remove.
		return rememberApproval(ctx, tx, approved.Upstream, upstreamName(approved), approved.PinnedHash, approved.PinnedDefinition)
	})
	if errors.Is(err, ErrStaleDefinition) {
		return refuseApproval(ctx, rec, r, hash)
	}
	if err != nil {
		return fmt.Errorf("approve %s: %w", tool, err)
	}
	if err := rec.Record(ctx, audit.Event{Type: audit.AdminChange, Tool: tool, Status: "ok",
		Detail: map[string]any{"action": "approve_upstream_tool", "upstream": r.Upstream, "pinned_hash": hash, "previous_hash": old}}); err != nil {
		return fmt.Errorf("approve %s: audit: %w", tool, err)
	}
	return nil
}

// The definition last approved of each upstream tool (by an admin, or by
// its first sight under a name the tenant declared) is remembered apart
// from the catalogue names that pin it, in a tenant setting per (upstream,
// upstream tool): an admin removes a name (gatehouse tool remove, a tenant
// file that renames or drops it) and declares another without approving
// anything, and the new name must still be held to what was approved, not
// pinned on first sight to whatever the upstream serves by then. The
// memory outlives the upstream's removal too: an upstream added again
// under the same name is held to what was approved of it, and a
// difference waits for an admin once.

// approvedSettingPrefix begins the name of the setting remembering an
// upstream tool's approved definition: the prefix, the upstream's name, a
// '/' and the tool's name as the upstream serves it ('/' is in neither).
const approvedSettingPrefix = "upstream_tools.approved/"

// approvedDef is an upstream tool's last approved definition, as its
// setting holds it: the hash, and the canonical JSON it is of (empty when
// it was pinned before definitions were kept).
type approvedDef struct {
	Hash       string          `json:"hash"`
	Definition json.RawMessage `json:"definition,omitempty"`
}

// rememberedApproval returns the definition last approved of upstream's
// tool, or a zero approvedDef when none is remembered.
func rememberedApproval(ctx context.Context, st store.Tenant, upstream, tool string) (approvedDef, error) {
	var a approvedDef
	v, err := st.Setting(ctx, approvedSettingPrefix+upstream+"/"+tool)
	switch {
	case errors.Is(err, store.ErrNotFound) || err == nil && v == "":
		return a, nil
	case err != nil:
		return a, fmt.Errorf("read the approved definition of %s on %s: %w", tool, upstream, err)
	}
	if err := json.Unmarshal([]byte(v), &a); err != nil || a.Hash == "" {
		return approvedDef{}, fmt.Errorf("read the approved definition of %s on %s: not a remembered definition", tool, upstream)
	}
	return a, nil
}

// rememberApproval remembers hash (of def) as the definition last approved
// of upstream's tool.
func rememberApproval(ctx context.Context, st store.Tenant, upstream, tool, hash string, def json.RawMessage) error {
	b, err := json.Marshal(approvedDef{Hash: hash, Definition: def})
	if err != nil {
		return fmt.Errorf("remember the approved definition of %s on %s: %w", tool, upstream, err)
	}
	if err := st.SetSetting(ctx, approvedSettingPrefix+upstream+"/"+tool, string(b)); err != nil {
		return fmt.Errorf("remember the approved definition of %s on %s: %w", tool, upstream, err)
	}
	return nil
}

// inTx runs fn in a transaction of st when st is a store (rather than a
// transaction's tenant already, as the CLI's are).
func inTx(ctx context.Context, st store.Tenant, fn func(tx store.Tenant) error) error {
	if s, ok := st.(interface {
		InTx(context.Context, func(store.Tenant) error) error
	}); ok {
		return s.InTx(ctx, fn)
	}
	return fn(st)
}

// auditedTx runs change in a transaction of the gateway's store and
// appends the records it returns in that same transaction, when the trail
// can (audit.Log.InTx, on the store the gateway's is): a crash between
// the two cannot keep the change and lose its record. change must not
// record through the trail itself (audit.Log.InTx says why). When the
// gateway's store is a transaction already (the CLI's), or the trail
// appends in no transaction of its own, the records follow the change.
func (g *Gateway) auditedTx(ctx context.Context, change func(tx store.Tenant) ([]audit.Event, error)) error {
	type txLog interface {
		InTx(context.Context, func(store.Tenant) ([]audit.Event, error)) (int64, error)
	}
	if _, ok := g.Store.(interface {
		InTx(context.Context, func(store.Tenant) error) error
	}); ok {
		if l, ok := g.Audit.(txLog); ok {
			if _, err := l.InTx(ctx, change); !errors.Is(err, audit.ErrNoTx) {
				return err
			}
		}
	}
	var events []audit.Event
	err := inTx(ctx, g.Store, func(tx store.Tenant) error {
		var err error
		events, err = change(tx)
		return err
	})
	if err != nil {
		return err
	}
	for _, e := range events {
		if err := g.recorder().Record(ctx, e); err != nil {
			return fmt.Errorf("audit %s: %w", e.Type, err)
		}
	}
	return nil
}

// refuseApproval records and returns the refusal of an approval of hash
// when r awaits another definition.
func refuseApproval(ctx context.Context, rec audit.Recorder, r ToolReview, hash string) error {
	if err := rec.Record(ctx, audit.Event{Type: audit.AdminChange, Tool: r.Tool, Status: "refused",
		Detail: map[string]any{"action": "approve_upstream_tool", "upstream": r.Upstream, "reviewed_hash": hash,
			"live_hash": r.LiveHash, "pinned_hash": r.PinnedHash}}); err != nil {
		return fmt.Errorf("approve %s: audit: %w", r.Tool, err)
	}
	return fmt.Errorf("approve %s: %w: the definition awaiting approval has hash %s, not the reviewed %s; review it again",
		r.Tool, ErrStaleDefinition, r.LiveHash, hash)
}

// Review is the package's Review on the gateway's store.
func (g *Gateway) Review(ctx context.Context, tool string) (ToolReview, error) {
	return Review(ctx, g.Store, tool)
}

// Approve is the package's Approve on the gateway's store and trail; the
// gateway then serves the approved definition at once.
func (g *Gateway) Approve(ctx context.Context, tool, hash string) error {
	if err := g.init(); err != nil {
		return err
	}
	if err := Approve(ctx, g.Store, g.recorder(), tool, hash); err != nil {
		return err
	}
	return g.Reload(ctx)
}
