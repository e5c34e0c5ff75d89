package gateway

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/storetest"
)

// revisionHookStore runs after once the revision has been read through
// it n times: a change committing right after a reload read the tenant.
type revisionHookStore struct {
	store.Store
	reads *atomic.Int64
	n     int64
	after func()
}

func (s revisionHookStore) Revision(ctx context.Context) (int64, error) {
	rev, err := s.Store.Revision(ctx)
	if s.reads.Add(1) == s.n && s.after != nil {
		s.after()
	}
	return rev, err
}

// TestCrossedReloadsKeepNewUpstreams: a reload that read the tenant
// before an upstream's URL changed finishes after a reload that read it
// after. Its catalogue is not published (it would take the change back),
// and neither are its upstreams: the gateway connects to the new URL, as
// its catalogue says. Before, the older reload restarted the upstream on
// its old URL, and calls went there until the tenant next changed (the
// revision had not moved since the catalogue was published, so no poll
// reloaded it); a removed upstream was started again so.
func TestCrossedReloadsKeepNewUpstreams(t *testing.T) {
	ctx := context.Background()
	st := storetest.OpenSQLite(t)
	if err := st.Upstreams().Create(ctx, store.Upstream{Name: "up", URL: "http://127.0.0.1:1/old"}); err != nil {
		t.Fatal(err)
	}
	reads := &atomic.Int64{}
	g := &Gateway{Resource: "http://127.0.0.1:1/mcp"}
	g.Store = revisionHookStore{Store: st, reads: reads, n: 2, after: func() {
		// Between the older reload's reading and its publishing: the
		// change, and a reload that reads it and publishes.
		if err := st.Upstreams().Update(ctx, "up", func(u store.Upstream) (store.Upstream, error) {
			u.URL = "http://127.0.0.1:1/new"
			return u, nil
		}); err != nil {
			t.Error(err)
		}
		if err := g.Reload(ctx); err != nil {
			t.Error(err)
		}
	}}
	t.Cleanup(func() { g.Close() })
	if err := g.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if got := g.catalogue().upstreams["up"].URL; got != "http://127.0.0.1:1/new" {
		t.Fatalf("catalogue's upstream URL %q, want the new one", got)
	}
	c := g.ups.conn("up")
	if c == nil || c.cfg.URL != "http://127.0.0.1:1/new" {
		url := "none"
		if c != nil {
			url = c.cfg.URL
		}
		t.Fatalf("the gateway connects upstream up at %s; its catalogue says http://127.0.0.1:1/new", url)
	}
}
