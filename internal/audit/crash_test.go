package audit_test

// The crash tests kill (SIGKILL) a real process — this test binary run
// again as a crash child — that records into a store, and check the store
// afterwards from the parent: every record the child acknowledged is
// there, and the chain verifies. They run on every backend of the store
// tests; on PostgreSQL, two children also share one chain (replicas), and
// a child dies holding the chain head's row lock.

import (
	"bufio"
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/postgres"
	"github.com/gatehouse/gatehouse/internal/store/sqldb"
	"github.com/gatehouse/gatehouse/internal/store/sqlite"
	"github.com/gatehouse/gatehouse/internal/store/storetest"
)

// The environment that makes the test binary a crash child: the folder
// of its keys (and of its store, on SQLite), the PostgreSQL URL of its
// store (none: SQLite), the prefix of its events' correlations and what
// it does ("load", the default, "hold" or "stream").
const (
	crashDirEnv  = "GATEHOUSE_AUDIT_CRASH_DIR"
	crashDBEnv   = "GATEHOUSE_AUDIT_CRASH_DB"
	crashNameEnv = "GATEHOUSE_AUDIT_CRASH_NAME"
	crashModeEnv = "GATEHOUSE_AUDIT_CRASH_MODE"
)

// openCrashStore opens the store of a crash test: the PostgreSQL database
// at dbURL, or SQLite in dir when dbURL is empty.
func openCrashStore(ctx context.Context, dir, dbURL string) (*sqldb.DB, error) {
	if dbURL != "" {
		return postgres.Open(ctx, dbURL, nil)
	}
	return sqlite.Open(ctx, dir, nil)
}

// crashChild, in the child process, records events from many goroutines
// and prints "ack SEQ CORRELATION" for each acknowledged one, until it is
// killed (or gives up after a minute). In mode "hold" it locks the chain
// head instead (the store's AppendAudit, whose build function never
// returns), prints "locked" and waits to be killed. It reports false in
// the parent.
func crashChild() bool {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		return false
	}
	ctx := context.Background()
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	st, err := openCrashStore(ctx, dir, os.Getenv(crashDBEnv))
	if err != nil {
		fail(err)
	}
	if os.Getenv(crashModeEnv) == "hold" {
		_, err := st.AppendAudit(ctx, func(store.AuditHead) ([]store.AuditRecord, error) {
			fmt.Println("locked")
			time.Sleep(time.Minute) // the parent kills us long before
			os.Exit(4)
			return nil, nil
		})
		fail(fmt.Errorf("AppendAudit returned: %v", err))
	}
	km, err := openKeys(st, dir)
	if err != nil {
		fail(err)
	}
	name := os.Getenv(crashNameEnv)
	l := audit.New(st, km, &audit.Options{CheckpointInterval: -1})
	if os.Getenv(crashModeEnv) == "stream" {
		streamChild(l) // until killed
	}
	var mu sync.Mutex
	out := os.Stdout
	fmt.Fprintln(out, "ready")
	for w := range 32 {
		go func() {
			for i := 0; ; i++ {
				corr := fmt.Sprintf("%sw%d-%d", name, w, i)
				seq, err := l.Append(ctx, audit.Event{Type: audit.ToolResult, Actor: "alice", Tool: "sales_report", Correlation: corr, Status: "ok"})
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(3)
				}
				mu.Lock()
				// One write per line: what the parent reads was acknowledged.
				fmt.Fprintf(out, "ack %d %s\n", seq, corr)
				mu.Unlock()
			}
		}()
	}
	time.Sleep(time.Minute) // the parent kills us long before
	os.Exit(4)
	return true
}

// crashStore is where a crash test's processes record: SQLite in dir, or
// the PostgreSQL database at db.
type crashStore struct {
	dir, db string
}

// crashStores returns a fresh store for each backend of the store tests.
func crashStores(t *testing.T) map[string]func(t *testing.T) crashStore {
	out := map[string]func(t *testing.T) crashStore{}
	for _, b := range storetest.Backends(t) {
		switch b.Name {
		case "sqlite":
			out[b.Name] = func(t *testing.T) crashStore { return crashStore{dir: t.TempDir()} }
		case "postgres":
			out[b.Name] = func(t *testing.T) crashStore {
				return crashStore{dir: t.TempDir(), db: storetest.PostgresSchema(t)}
			}
		default:
			t.Errorf("no crash store for backend %s", b.Name)
		}
	}
	return out
}

// prepare creates the store and its keys (the master key in dir), so that
// the children share them instead of racing to make them.
func (cs crashStore) prepare(t *testing.T) {
	t.Helper()
	st, err := openCrashStore(context.Background(), cs.dir, cs.db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := openKeys(st, cs.dir); err != nil {
		t.Fatal(err)
	}
}

// crashProc is a crash child and the lines it printed.
type crashProc struct {
	cmd   *exec.Cmd
	lines chan string // closed at the end of its output
}

// start runs the test binary as a crash child on the store.
func (cs crashStore) start(t *testing.T, name, mode string) *crashProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+cs.dir, crashDBEnv+"="+cs.db, crashNameEnv+"="+name, crashModeEnv+"="+mode)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &crashProc{cmd: cmd, lines: make(chan string, 1024)}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill() // by its PID; a no-op once it has ended
		for range p.lines {
		}
		cmd.Wait()
	})
	return p
}

// kill sends SIGKILL and waits for the child's end and the rest of its
// output, handing each remaining line to each.
func (p *crashProc) kill(t *testing.T, each func(string)) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	for line := range p.lines {
		each(line)
	}
	p.cmd.Wait()
}

// acks collects acknowledgements by seq, from any number of children.
type acks struct {
	t   *testing.T
	seq map[int64]string
	by  map[string]int // acknowledgements by child name
}

func newAcks(t *testing.T) *acks {
	return &acks{t: t, seq: map[int64]string{}, by: map[string]int{}}
}

// add takes a line of child name's; it reports the seq acknowledged, or 0.
func (a *acks) add(name, line string) int64 {
	a.t.Helper()
	if line == "ready" {
		return 0
	}
	f := strings.Fields(line)
	if len(f) != 3 || f[0] != "ack" || !strings.HasPrefix(f[2], name) {
		a.t.Fatalf("child %s said %q", name, line)
	}
	seq, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		a.t.Fatal(err)
	}
	if prev, ok := a.seq[seq]; ok {
		a.t.Errorf("seq %d acknowledged twice: for %s and for %s (a fork of the chain)", seq, prev, f[2])
	}
	a.seq[seq] = f[2]
	a.by[name]++
	return seq
}

// checkCrashed opens the store after the children are gone and checks that
// the chain verifies, holds seq 1 to its head without a gap, and holds
// every acknowledged record at the seq it was acknowledged with.
func (cs crashStore) checkCrashed(t *testing.T, a *acks) {
	t.Helper()
	ctx := context.Background()
	st, err := openCrashStore(ctx, cs.dir, cs.db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	km, err := openKeys(st, cs.dir)
	if err != nil {
		t.Fatal(err)
	}
	l := audit.New(st, km, &audit.Options{CheckpointInterval: -1})
	defer l.Close()
	rep, err := l.Verify(ctx, nil)
	if err != nil {
		t.Fatalf("Verify after kill: %v %+v", err, rep.Problems)
	}
	found := map[int64]string{}
	var last int64
	for f := (audit.Filter{Limit: 1000}); ; {
		p, err := l.Query(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range p.Entries {
			found[e.Seq] = e.Event.Correlation
			last = max(last, e.Seq)
		}
		if p.Next == 0 {
			break
		}
		f.After = p.Next
	}
	if int64(len(found)) != last {
		t.Errorf("the log holds %d records up to seq %d: a gap", len(found), last)
	}
	missing := 0
	for seq, corr := range a.seq {
		if found[seq] != corr {
			missing++
			if missing < 10 {
				t.Errorf("acknowledged record %d (%s) is %q after the kill", seq, corr, found[seq])
			}
		}
	}
	t.Logf("%d acknowledged (%v), %d in the log after SIGKILL (verified), %d missing", len(a.seq), a.by, rep.Records, missing)
}

// TestCrashKeepsAcknowledged kills (SIGKILL) a process recording under load
// and checks that every record it acknowledged is in the store afterwards
// and that the chain verifies, on every backend.
func TestCrashKeepsAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	for name, fresh := range crashStores(t) {
		t.Run(name, func(t *testing.T) {
			cs := fresh(t)
			cs.prepare(t)
			child := cs.start(t, "a", "load")
			a := newAcks(t)
			const killAfter = 3000
			for line := range child.lines {
				a.add("a", line)
				if len(a.seq) >= killAfter {
					break
				}
			}
			if len(a.seq) < killAfter {
				t.Fatalf("child ended after %d acks without being killed", len(a.seq))
			}
			child.kill(t, func(line string) { a.add("a", line) })
			cs.checkCrashed(t, a)
		})
	}
}

// TestCrashOfOneReplicaKeepsAcknowledged: two processes (replicas) record
// under load into one PostgreSQL chain; one is killed (SIGKILL) mid-load.
// The survivor must go on appending to the same chain — records past the
// head as it stood once the other was dead — and, once it is killed as
// well, every record either acknowledged is in the one gap-free chain,
// which verifies, and no seq was acknowledged to both.
func TestCrashOfOneReplicaKeepsAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	cs := crashStore{dir: t.TempDir(), db: storetest.PostgresSchema(t)}
	cs.prepare(t)
	victim, survivor := cs.start(t, "a", "load"), cs.start(t, "b", "load")
	a := newAcks(t)
	const (
		killAfter = 1500 // acknowledgements by each before the kill
		afterKill = 500  // by the survivor past the head after the kill
	)
	// Both children go on printing: read both until each has enough.
	var headAtDeath int64
	survivorPast := 0
	vLines, sLines := victim.lines, survivor.lines
	for sLines != nil {
		select {
		case line, ok := <-vLines:
			if !ok {
				t.Fatalf("the victim ended by itself after %d acks", a.by["a"])
			}
			a.add("a", line)
			if a.by["a"] < killAfter || a.by["b"] < killAfter {
				continue
			}
			victim.kill(t, func(line string) { a.add("a", line) })
			vLines = nil
			// The head now: every record above it was appended after
			// the victim died.
			st, err := openCrashStore(context.Background(), cs.dir, cs.db)
			if err != nil {
				t.Fatal(err)
			}
			if err := st.SQL().QueryRow("SELECT seq FROM audit_head WHERE id = 1").Scan(&headAtDeath); err != nil {
				t.Fatal(err)
			}
			st.Close()
			t.Logf("victim killed after %d acks; head at its death %d", a.by["a"], headAtDeath)
		case line, ok := <-sLines:
			if !ok {
				t.Fatalf("the survivor ended by itself after %d acks (%d past the head after the kill)", a.by["b"], survivorPast)
			}
			seq := a.add("b", line)
			if vLines == nil && seq > headAtDeath {
				survivorPast++
				if survivorPast >= afterKill {
					survivor.kill(t, func(line string) { a.add("b", line) })
					sLines = nil
				}
			}
		}
	}
	cs.checkCrashed(t, a)
}

// lockWaiter is this process as the replica that waits for the head lock
// a child process holds (PostgreSQL): its Log, on a connection named so
// that the test can see it wait for the lock.
type lockWaiter struct {
	st  *sqldb.DB
	l   *audit.Log
	app string
}

// lockResult is how the waiter's Append ended, and when.
type lockResult struct {
	seq int64
	err error
	at  time.Time
}

// newLockWaiter opens cs as the waiting replica, appends record 1
// ("before") and starts the child that takes the head lock and holds it.
func newLockWaiter(t *testing.T, cs crashStore) (*lockWaiter, *crashProc) {
	t.Helper()
	u, err := url.Parse(cs.db)
	if err != nil {
		t.Fatal(err)
	}
	w := &lockWaiter{app: fmt.Sprintf("gh-audit-lock-%d", os.Getpid())}
	q := u.Query()
	q.Set("application_name", w.app)
	u.RawQuery = q.Encode()
	if w.st, err = postgres.Open(context.Background(), u.String(), nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.st.Close() })
	km, err := openKeys(w.st, cs.dir)
	if err != nil {
		t.Fatal(err)
	}
	// The default CommitTimeout: the Append must not give up before the
	// holder's lock is released.
	w.l = audit.New(w.st, km, &audit.Options{CheckpointInterval: -1})
	t.Cleanup(func() { w.l.Close() })
	if _, err := w.l.Append(context.Background(), audit.Event{Type: audit.ToolResult, Actor: "alice", Correlation: "before"}); err != nil {
		t.Fatal(err)
	}
	holder := cs.start(t, "h", "hold")
	if line := <-holder.lines; line != "locked" {
		t.Fatalf("the holder said %q", line)
	}
	return w, holder
}

// appendWaiting starts the Append ("waiter") that waits for the lock; its
// end comes on the channel.
func (w *lockWaiter) appendWaiting() <-chan lockResult {
	done := make(chan lockResult, 1)
	go func() {
		seq, err := w.l.Append(context.Background(), audit.Event{Type: audit.ToolResult, Actor: "alice", Correlation: "waiter"})
		done <- lockResult{seq, err, time.Now()}
	}()
	return done
}

// waiting reports whether the waiter's connection waits for a lock.
func (w *lockWaiter) waiting(t *testing.T) bool {
	var n int
	err := w.st.SQL().QueryRow(`SELECT count(*) FROM pg_stat_activity
		WHERE application_name = $1 AND wait_event_type = 'Lock'`, w.app).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n > 0
}

// checkWent checks that the waiter's Append went through as record 2, and
// that the chain is the two records and verifies.
func (w *lockWaiter) checkWent(t *testing.T, cs crashStore, r lockResult, after string) {
	t.Helper()
	if r.err != nil {
		t.Fatalf("Append %s: %v", after, r.err)
	}
	if r.seq != 2 {
		t.Errorf("Append %s got seq %d, want 2", after, r.seq)
	}
	a := newAcks(t)
	a.seq[1], a.seq[2] = "before", "waiter"
	cs.checkCrashed(t, a)
}

// TestKilledHeadLockHolderFreesTheChain: on PostgreSQL a replica is killed
// (SIGKILL) while its transaction holds the chain head's row lock, and
// another replica's Append is waiting for that lock. The server notices
// the dead connection and rolls its transaction back: the waiting Append
// must then go through, on the chain as it was, which verifies. How long
// it waited after the kill is logged, not asserted.
func TestKilledHeadLockHolderFreesTheChain(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	cs := crashStore{dir: t.TempDir(), db: storetest.PostgresSchema(t)}
	cs.prepare(t)
	w, holder := newLockWaiter(t, cs)
	done := w.appendWaiting()
	for deadline := time.Now().Add(20 * time.Second); !w.waiting(t); {
		select {
		case r := <-done:
			t.Fatalf("Append returned (%d, %v) while another process held the head lock", r.seq, r.err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the Append never waited for the head lock")
		}
		time.Sleep(5 * time.Millisecond)
	}

	killed := time.Now()
	holder.kill(t, func(line string) { t.Errorf("the holder said %q", line) })
	var r lockResult
	select {
	case r = <-done:
	case <-time.After(2 * time.Minute):
		t.Fatal("Append still waiting 2 minutes after the lock holder was killed")
	}
	t.Logf("the waiting Append went through %v after SIGKILL was sent to the lock holder", r.at.Sub(killed))
	w.checkWent(t, cs, r, "after the lock holder was killed")
}
