package gateway

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/storetest"
)

// failingReads fails the reads a reload makes (the tools, and with
// revision set the revision too) while fail is set: a store that answers
// the poll but not the reload, or nothing.
type failingReads struct {
	store.Store
	fail, revision *atomic.Bool
}

var errReadsFail = errors.New("the store cannot be read")

func (s failingReads) Revision(ctx context.Context) (int64, error) {
	if s.fail.Load() && s.revision.Load() {
		return 0, errReadsFail
	}
	return s.Store.Revision(ctx)
}

func (s failingReads) Tools() store.Collection[store.Tool] {
	if s.fail.Load() {
		return failingTools{s.Store.Tools()}
	}
	return s.Store.Tools()
}

type failingTools struct{ store.Collection[store.Tool] }

func (failingTools) List(context.Context) ([]store.Tool, error) { return nil, errReadsFail }

// TestCatalogueLag: while the tenant in the store is ahead of the
// catalogue and the refresher cannot catch up (a reload that fails, a
// revision it cannot read), CatalogueLag (gatehouse_catalogue_lag_seconds)
// grows from when it first found so; it is 0 while the catalogue is
// current and once a reload succeeds. Before, a failing reload was a
// warning in the log and nothing else: a replica could decide on a
// catalogue of revoked grants unseen.
func TestCatalogueLag(t *testing.T) {
	ctx := context.Background()
	st := storetest.OpenSQLite(t)
	km := testKeys(t, st)
	var fail, revision atomic.Bool
	g := &Gateway{Resource: "http://gatehouse.test/mcp", Issuer: "http://gatehouse.test", Keys: km,
		Store: failingReads{Store: st, fail: &fail, revision: &revision}}
	if err := g.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	keysRev := int64(-1)
	g.poll(ctx, &keysRev)
	if lag := g.CatalogueLag(); lag != 0 {
		t.Fatalf("current catalogue: lag %v", lag)
	}
	// The tenant moves on; the reload fails.
	if err := st.Tools().Create(ctx, store.Tool{Name: "echo", Builtin: "sales_report"}); err != nil {
		t.Fatal(err)
	}
	fail.Store(true)
	g.poll(ctx, &keysRev)
	time.Sleep(20 * time.Millisecond)
	g.poll(ctx, &keysRev)
	first := g.CatalogueLag()
	if first < 20*time.Millisecond {
		t.Fatalf("reload failing: lag %v, want it counted from the first failed poll", first)
	}
	// Nor can the revision be read: still behind, from the same moment.
	revision.Store(true)
	g.poll(ctx, &keysRev)
	if lag := g.CatalogueLag(); lag < first {
		t.Errorf("revision unreadable: lag %v, want at least %v", lag, first)
	}
	fail.Store(false)
	g.poll(ctx, &keysRev)
	if lag := g.CatalogueLag(); lag != 0 {
		t.Errorf("caught up: lag %v", lag)
	}
	if _, ok := g.catalogue().tools["echo"]; !ok {
		t.Error("the catalogue did not catch up")
	}
}
