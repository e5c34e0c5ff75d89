package audit_test

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/store"
)

// slowWalkStore reads the trail as a large one does: every read of its
// records takes until ctx ends (the walk pruning starts with verifies the
// whole chain). entered is told of the first such read.
type slowWalkStore struct {
	store.AuditStore
	entered chan struct{}
}

func (s *slowWalkStore) AuditRecords(ctx context.Context, f store.AuditFilter) ([]store.AuditRecord, error) {
	select {
	case s.entered <- struct{}{}:
	default:
	}
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestCloseStopsAPruneUnderWay: a prune under way when the log closes (it
// starts with the log, and first walks the whole chain) is stopped, and
// Close returns at once. Close used to wait for it to finish, up to ten
// times CommitTimeout (5 minutes by default): a 'serve' asked to stop
// soon after its start, on a large trail with a retention, did not stop.
func TestCloseStopsAPruneUnderWay(t *testing.T) {
	st := &slowWalkStore{AuditStore: storetestSQLite(t), entered: make(chan struct{}, 1)}
	l := audit.New(st, testKeys, &audit.Options{Retention: time.Hour, CheckpointInterval: time.Hour, CommitTimeout: 3 * time.Second})
	select {
	case <-st.entered:
	case <-time.After(10 * time.Second):
		l.Close()
		t.Fatal("the prune at start never read the trail")
	}
	closed := make(chan error, 1)
	go func() { closed <- l.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Errorf("Close still waits for the prune under way after 2 s")
		<-closed
	}
}
