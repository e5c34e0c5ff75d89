package audit_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/store/sqldb"
	"github.com/gatehouse/gatehouse/internal/store/sqlite"
	"github.com/gatehouse/gatehouse/internal/store/storetest"
)

var _ audit.Keys = (*keys.Manager)(nil)

// clock is a settable clock for tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// env is one store with keys and a log on it.
type env struct {
	st    *sqldb.DB
	keys  *keys.Manager
	clock *clock
	log   *audit.Log
}

// eachBackend runs fn on SQLite and, when GATEHOUSE_TEST_POSTGRES is set,
// PostgreSQL.
func eachBackend(t *testing.T, fn func(t *testing.T, open func(t *testing.T) *sqldb.DB)) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) { fn(t, b.Open) })
	}
}

// newEnv opens a store with signing keys and a log with an injected clock.
func newEnv(t *testing.T, open func(t *testing.T) *sqldb.DB, opts *audit.Options) *env {
	t.Helper()
	e := &env{st: open(t), clock: newClock(), keys: testKeys}
	var o audit.Options
	if opts != nil {
		o = *opts
	}
	o.Now = e.clock.Now
	if o.CheckpointInterval == 0 {
		o.CheckpointInterval = -1
	}
	e.log = audit.New(e.st, e.keys, &o)
	t.Cleanup(func() { e.log.Close() })
	return e
}

// record appends events one by one (one batch each), a second apart.
func (e *env) record(t *testing.T, evs ...audit.Event) {
	t.Helper()
	for _, ev := range evs {
		if err := e.log.Record(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(time.Second)
	}
}

// exec runs SQL on the store behind the log's back.
func (e *env) exec(t *testing.T, q string, args ...any) {
	t.Helper()
	if _, err := e.st.SQL().Exec(e.st.Rebind(q), args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func (e *env) hashOf(t *testing.T, seq int64) string {
	t.Helper()
	var h string
	if err := e.st.SQL().QueryRow(e.st.Rebind("SELECT hash FROM audit_log WHERE seq = ?"), seq).Scan(&h); err != nil {
		t.Fatal(err)
	}
	return h
}

// forge inserts, behind the writers' backs, a record of mallory's of type
// typ at seq, linked to the record before it (its query columns matching
// its event), and moves the head to it when moveHead.
func (e *env) forge(t *testing.T, seq int64, typ string, moveHead bool) {
	t.Helper()
	prev := e.hashOf(t, seq-1)
	ev := `{"type":"` + typ + `","actor":"mallory"}`
	at := e.clock.Now().UnixMicro()
	e.exec(t, `INSERT INTO audit_log (seq, at, event, prev, hash, type, actor) VALUES (?, ?, ?, ?, ?, ?, 'mallory')`,
		seq, at, ev, prev, specHash(prev, seq, at, ev), typ)
	if moveHead {
		e.exec(t, `UPDATE audit_head SET seq = ?, hash = (SELECT hash FROM audit_log WHERE seq = ?)`, seq, seq)
	}
}

// specHash computes a record's hash as the package documentation states
// it, independently of the package's code.
func specHash(prev string, seq, micros int64, event string) string {
	p, _ := hex.DecodeString(prev)
	sum := sha256.Sum256(append(p, fmt.Sprintf(`{"seq":%d,"time":%d,"event":%s}`, seq, micros, event)...))
	return hex.EncodeToString(sum[:])
}

func events(n int) []audit.Event {
	out := make([]audit.Event, n)
	for i := range out {
		out[i] = audit.Event{Type: audit.ToolDecided, Actor: "alice", Agent: "acme-assistant", Tool: "sales_report",
			Decision: "allow", Correlation: fmt.Sprintf("call-%d", i+1), Reasons: []string{"role sales-manager"}}
	}
	return out
}

var (
	storetestSQLite       = storetest.OpenSQLite
	storetestSecondHandle = storetest.SecondHandle
)

// testKeys signs for every test: generating keys (RSA among them) for each
// store would make the suite slow, and the log does not care where its
// keys are kept.
var testKeys *keys.Manager

func TestMain(m *testing.M) {
	if crashChild() {
		return
	}
	dir, err := os.MkdirTemp("", "audit-keys-")
	if err != nil {
		panic(err)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		st, err := sqlite.Open(context.Background(), dir, nil)
		if err != nil {
			panic(err)
		}
		defer st.Close()
		testKeys, err = openKeys(st, dir)
		if err != nil {
			panic(err)
		}
		return m.Run()
	}()
	os.Exit(code)
}

func openKeys(st *sqldb.DB, dir string) (*keys.Manager, error) {
	master, err := keys.LoadMasterKey("", dir)
	if err != nil {
		return nil, err
	}
	sealer, err := keys.NewSealer(master)
	if err != nil {
		return nil, err
	}
	return keys.Open(context.Background(), st, sealer, nil)
}
