package audit_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/store/postgres"
	"github.com/gatehouse/gatehouse/internal/store/storetest"
)

// TestFrozenHeadLockHolderFreesTheChain: on PostgreSQL a replica freezes
// (SIGSTOP: a hung process, or a host gone from the network, whose
// connection the server sees as open) while its transaction holds the
// chain head's row lock. Another replica's Append, which waits for that
// lock, must still go through — the server ends the frozen session after
// postgres.IdleInTxTimeout — on the chain as it was, which verifies. The
// deadline is three times that bound and generous on purpose; how long the
// Append took is logged, not asserted.
func TestFrozenHeadLockHolderFreesTheChain(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	cs := crashStore{dir: t.TempDir(), db: storetest.PostgresSchema(t)}
	cs.prepare(t)
	ctx := context.Background()

	// This process is the other replica, on a connection named so the
	// test can see it wait for the lock.
	u, err := url.Parse(cs.db)
	if err != nil {
		t.Fatal(err)
	}
	app := fmt.Sprintf("gh-audit-frozen-%d", os.Getpid())
	q := u.Query()
	q.Set("application_name", app)
	u.RawQuery = q.Encode()
	st, err := postgres.Open(ctx, u.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	km, err := openKeys(st, cs.dir)
	if err != nil {
		t.Fatal(err)
	}
	// The default CommitTimeout: the Append must not give up before the
	// frozen holder's lock is released.
	l := audit.New(st, km, &audit.Options{CheckpointInterval: -1})
	defer l.Close()
	if _, err := l.Append(ctx, audit.Event{Type: audit.ToolResult, Actor: "alice", Correlation: "before"}); err != nil {
		t.Fatal(err)
	}

	holder := cs.start(t, "h", "hold")
	if line := <-holder.lines; line != "locked" {
		t.Fatalf("the holder said %q", line)
	}
	if err := holder.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	frozen := time.Now()

	type result struct {
		seq int64
		err error
		at  time.Time
	}
	done := make(chan result, 1)
	go func() {
		seq, err := l.Append(ctx, audit.Event{Type: audit.ToolResult, Actor: "alice", Correlation: "waiter"})
		done <- result{seq, err, time.Now()}
	}()
	waiting := func() bool {
		var n int
		err := st.SQL().QueryRow(`SELECT count(*) FROM pg_stat_activity
			WHERE application_name = $1 AND wait_event_type = 'Lock'`, app).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		return n > 0
	}
	var r result
	waited := false
	for deadline := frozen.Add(3 * postgres.IdleInTxTimeout); ; {
		select {
		case r = <-done:
		default:
			if !waited {
				waited = waiting()
			}
			if time.Now().After(deadline) {
				t.Fatalf("Append still waiting %v after the lock holder froze", time.Since(frozen).Round(time.Second))
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		break
	}
	if !waited {
		t.Errorf("the Append was never seen waiting for the head lock")
	}
	if r.err != nil {
		t.Fatalf("Append while the lock holder is frozen: %v (after %v)", r.err, r.at.Sub(frozen).Round(time.Millisecond))
	}
	if r.seq != 2 {
		t.Errorf("Append while the lock holder is frozen got seq %d, want 2", r.seq)
	}
	t.Logf("the waiting Append went through %v after SIGSTOP was sent to the lock holder", r.at.Sub(frozen).Round(time.Millisecond))

	// The holder wakes up to a connection the server has closed: it must
	// not append anything. Then it is killed.
	if err := holder.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	holder.kill(t, func(line string) { t.Errorf("the holder said %q", line) })
	a := newAcks(t)
	a.seq[1], a.seq[2] = "before", "waiter"
	cs.checkCrashed(t, a)
}
