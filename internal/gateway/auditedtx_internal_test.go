package gateway

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"testing"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/sqldb"
	"github.com/gatehouse/gatehouse/internal/store/storetest"
)

var errTrailDown = errors.New("the audit trail cannot be written")

// testKeys opens st's signing keys under a new random master key.
func testKeys(t *testing.T, st store.Tenant) *keys.Manager {
	t.Helper()
	master := make([]byte, 32)
	rand.Read(master)
	sealer, err := keys.NewSealer(master)
	if err != nil {
		t.Fatal(err)
	}
	km, err := keys.Open(context.Background(), st, sealer, nil)
	if err != nil {
		t.Fatal(err)
	}
	return km
}

// trailDown is a store whose audit records cannot be appended (a full
// disk, a failing constraint): what a transaction that carries records
// does is rolled back with them.
type trailDown struct{ *sqldb.DB }

func (s trailDown) AppendAudit(context.Context, func(store.AuditHead) ([]store.AuditRecord, error)) (store.AuditHead, error) {
	return store.AuditHead{}, errTrailDown
}

func (s trailDown) InTxAudit(ctx context.Context, change func(tx store.Tenant) (func(store.AuditHead) ([]store.AuditRecord, error), error)) (store.AuditHead, error) {
	return s.DB.InTxAudit(ctx, func(tx store.Tenant) (func(store.AuditHead) ([]store.AuditRecord, error), error) {
		build, err := change(tx)
		if err != nil || build == nil {
			return build, err
		}
		return func(store.AuditHead) ([]store.AuditRecord, error) { return nil, errTrailDown }, nil
	})
}

// TestWithheldStoredOnlyWithItsRecord: what the gateway stores of an
// upstream's changed tool, prompt or template (withheld, awaiting an
// admin), and a tool it imports, commits together with its audit record
// or not at all. Before, the change committed first and the record was
// appended after: a trail that could not take it (or a crash between the
// two) left a tool withheld, or imported, with no record of it, and no
// later listing recorded it (the store then held the change already).
func TestWithheldStoredOnlyWithItsRecord(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { withheldStoredOnlyWithItsRecord(t, storetest.OpenSQLite(t)) })
	t.Run("postgres", func(t *testing.T) { withheldStoredOnlyWithItsRecord(t, storetest.OpenPostgres(t)) })
}

func withheldStoredOnlyWithItsRecord(t *testing.T, st *sqldb.DB) {
	ctx := context.Background()
	km := testKeys(t, st)
	trail := audit.New(trailDown{st}, km, &audit.Options{CheckpointInterval: -1})
	t.Cleanup(func() { trail.Close() })
	first := &Gateway{Store: st} // pins on first sight, nothing to record
	g := &Gateway{Store: st, Audit: trail}

	// A prompt whose definition changed.
	key := featureKey(FeaturePrompt, "greet")
	x := pinnedDef{Hash: "hash-x", Definition: json.RawMessage(`{"name":"greet","description":"X"}`)}
	y := pinnedDef{Hash: "hash-y", Definition: json.RawMessage(`{"name":"greet","description":"Y"}`)}
	if _, err := first.pinFeatures(ctx, "up", map[string]pinnedDef{key: x}); err != nil {
		t.Fatal(err)
	}
	if _, err := g.pinFeatures(ctx, "up", map[string]pinnedDef{key: y}); !errors.Is(err, errTrailDown) {
		t.Errorf("pinning a changed prompt with the trail down: %v, want its error", err)
	}
	pins, err := readFeaturePins(ctx, st, "up")
	if err != nil {
		t.Fatal(err)
	}
	if p := pins[key]; p.Pending != nil {
		t.Errorf("the changed prompt awaits approval with no record of it: %+v", p.Pending)
	}

	// A tool whose definition changed.
	if err := st.Tools().Create(ctx, store.Tool{Name: "echo", Upstream: "up"}); err != nil {
		t.Fatal(err)
	}
	tx := liveDef{hash: "hash-x", raw: json.RawMessage(`{"name":"echo","description":"X"}`)}
	ty := liveDef{hash: "hash-y", raw: json.RawMessage(`{"name":"echo","description":"Y"}`)}
	if _, _, err := first.importTools(ctx, "up", map[string]liveDef{"echo": tx}); err != nil {
		t.Fatal(err)
	}
	before, err := st.Tools().Get(ctx, "echo")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := g.importTools(ctx, "up", map[string]liveDef{"echo": ty}); !errors.Is(err, errTrailDown) {
		t.Errorf("importing a changed tool with the trail down: %v, want its error", err)
	}
	if after, err := st.Tools().Get(ctx, "echo"); err != nil || after.PendingHash != "" || after.Status != before.Status {
		t.Errorf("the changed tool: status %q → %q, pending %q (%v): withheld with no record of it",
			before.Status, after.Status, after.PendingHash, err)
	}

	// A new tool.
	fresh := liveDef{hash: "hash-f", raw: json.RawMessage(`{"name":"fresh"}`)}
	if _, _, err := g.importTools(ctx, "up", map[string]liveDef{"echo": tx, "fresh": fresh}); !errors.Is(err, errTrailDown) {
		t.Errorf("importing a new tool with the trail down: %v, want its error", err)
	}
	if _, err := st.Tools().Get(ctx, "fresh"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the new tool was imported with no record of it: %v", err)
	}

	// With the trail up, the change and its record are both there.
	up := audit.New(st, km, &audit.Options{CheckpointInterval: -1})
	t.Cleanup(func() { up.Close() })
	g.Audit = up
	if _, err := g.pinFeatures(ctx, "up", map[string]pinnedDef{key: y}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := g.importTools(ctx, "up", map[string]liveDef{"echo": ty, "fresh": fresh}); err != nil {
		t.Fatal(err)
	}
	recs, err := st.AuditRecords(ctx, store.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, r := range recs {
		got[r.Type]++
	}
	for _, typ := range []string{audit.FeatureWithheld, audit.ToolWithheld, audit.ToolImported} {
		if got[typ] != 1 {
			t.Errorf("%d %s records, want 1 (all: %v)", got[typ], typ, got)
		}
	}
}
