package audit_test

import (
	"syscall"
	"testing"
	"time"

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
	w, holder := newLockWaiter(t, cs)
	if err := holder.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	frozen := time.Now()
	done := w.appendWaiting()
	var r lockResult
	waited := false
	for deadline := frozen.Add(3 * postgres.IdleInTxTimeout); ; {
		select {
		case r = <-done:
		default:
			if !waited {
				waited = w.waiting(t)
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
	t.Logf("the waiting Append went through %v after SIGSTOP was sent to the lock holder", r.at.Sub(frozen).Round(time.Millisecond))

	// The holder wakes up to a connection the server has closed: it must
	// not append anything. Then it is killed.
	if err := holder.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	holder.kill(t, func(line string) { t.Errorf("the holder said %q", line) })
	w.checkWent(t, cs, r, "while the lock holder is frozen")
}
