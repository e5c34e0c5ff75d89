package audit_test

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/store/sqldb"
)

// TestStreamStoredRetryAfterClockStep: a failing stream stores when it may
// send next, by its sender's wall clock. Taken over by a replica whose
// clock lags that sender's, or started again after the machine's clock
// stepped back (an NTP correction), the stream waits out that stored time
// by its own clock: an hour's difference held every record back from the
// sink for an hour (and the retention with it), though the stored backoff
// says the next try was at most a second away. The wait now never exceeds
// the stored backoff.
func TestStreamStoredRetryAfterClockStep(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(t *testing.T) *sqldb.DB) {
		st := open(t)
		ctx := context.Background()
		// Left by a sender whose clock ran an hour ahead: a backoff of
		// 200 ms, the next try due at its now plus 100 ms.
		if err := st.PutAuditCursor(ctx, "siem#backoff", 200); err != nil {
			t.Fatal(err)
		}
		if err := st.PutAuditCursor(ctx, "siem#retry-at", time.Now().Add(time.Hour+100*time.Millisecond).UnixMilli()); err != nil {
			t.Fatal(err)
		}
		l := audit.New(st, testKeys, &audit.Options{PollInterval: 10 * time.Millisecond, CheckpointInterval: -1})
		defer l.Close()
		ss := l.Stream([]audit.Sink{&flakySink{}}, &audit.StreamOptions{MinBackoff: 20 * time.Millisecond, MaxBackoff: time.Second, FromStart: true})
		defer ss.Close()
		if err := l.Record(ctx, events(1)[0]); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			if pos, _ := st.AuditCursor(ctx, "siem"); pos >= 1 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatal("after 5s the stream has delivered nothing: it waits out a retry time stored by a clock an hour ahead")
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}
