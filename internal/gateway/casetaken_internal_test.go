package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/sqldb"
	"github.com/gatehouse/gatehouse/internal/store/storetest"
)

// toolListHookStore runs after once the tools have been listed through
// it: what another replica, or an admin, does between a listing's read of
// the catalogue and its write.
type toolListHookStore struct {
	store.Store
	after func()
}

func (s toolListHookStore) Tools() store.Collection[store.Tool] {
	return toolListHook{Collection: s.Store.Tools(), after: s.after}
}

type toolListHook struct {
	store.Collection[store.Tool]
	after func()
}

func (c toolListHook) List(ctx context.Context) ([]store.Tool, error) {
	ts, err := c.Collection.List(ctx)
	if c.after != nil {
		c.after()
	}
	return ts, err
}

// TestImportRefusesCaseTwinMadeMeanwhile: a tool named as the upstream's
// but for case is made after importTools read the catalogue (another
// replica importing it from another upstream, an admin adding it): the
// name is decided again in the transaction that makes the tool, under the
// tenant's lock, and the upstream's tool is not imported but reported
// taken. Before, both went into the store.
func TestImportRefusesCaseTwinMadeMeanwhile(t *testing.T) {
	importRefusesCaseTwinMadeMeanwhile(t, storetest.OpenPostgres(t))
}

func TestImportRefusesCaseTwinMadeMeanwhileSQLite(t *testing.T) {
	importRefusesCaseTwinMadeMeanwhile(t, storetest.OpenSQLite(t))
}

func importRefusesCaseTwinMadeMeanwhile(t *testing.T, st *sqldb.DB) {
	ctx := context.Background()
	var madeErr error
	g := &Gateway{Store: toolListHookStore{Store: st, after: func() {
		madeErr = (&Gateway{Store: st}).auditedTx(ctx, func(tx store.Tenant) ([]audit.Event, error) {
			return nil, tx.Tools().Create(ctx, store.Tool{Name: "send_email", Upstream: "x", Status: store.ToolPending})
		})
	}}}
	def := liveDef{hash: "hash-s", raw: json.RawMessage(`{"name":"Send_Email"}`)}
	_, taken, err := g.importTools(ctx, "y", map[string]liveDef{"Send_Email": def})
	if err != nil {
		t.Fatal(err)
	}
	if madeErr != nil {
		t.Fatal(madeErr)
	}
	if _, err := st.Tools().Get(ctx, "Send_Email"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Send_Email is in the store beside send_email: %v", err)
	}
	if len(taken) != 1 || taken[0] != "Send_Email" {
		t.Errorf("taken = %q, want [Send_Email]", taken)
	}
}
