package audit_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/sqldb"
)

// lostAckStore commits its first append, then says it failed, as a COMMIT
// whose answer is lost (a connection reset, a timeout) does.
type lostAckStore struct {
	store.AuditStore
	n atomic.Int32
}

func (s *lostAckStore) AppendAudit(ctx context.Context, build func(store.AuditHead) ([]store.AuditRecord, error)) (store.AuditHead, error) {
	h, err := s.AuditStore.AppendAudit(ctx, build)
	if err == nil && s.n.Add(1) == 1 {
		return store.AuditHead{}, errors.New("commit: connection reset by peer")
	}
	return h, err
}

// TestCommitWithLostAnswer: a batch whose commit went through but whose
// answer was lost is known as committed: an enqueued record is not
// appended a second time under another seq, a waited one is acknowledged
// rather than failed, and the chain verifies. Before, every commit error
// counted as not committed, and an enqueued record was written twice.
func TestCommitWithLostAnswer(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(t *testing.T) *sqldb.DB) {
		ctx := context.Background()
		t.Run("enqueued", func(t *testing.T) {
			st := &lostAckStore{AuditStore: open(t)}
			l := audit.New(st, testKeys, &audit.Options{CheckpointInterval: -1})
			defer l.Close()
			if err := l.Enqueue(ctx, audit.Event{Type: audit.SlipRedeemed, SlipID: "slip-1"}); err != nil {
				t.Fatal(err)
			}
			for st.n.Load() < 1 {
				time.Sleep(time.Millisecond)
			}
			if err := l.Record(ctx, audit.Event{Type: audit.ToolResult}); err != nil {
				t.Fatal(err)
			}
			p, err := l.Query(ctx, audit.Filter{})
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Entries) != 2 || p.Entries[0].Event.Type != audit.SlipRedeemed || p.Entries[1].Event.Type != audit.ToolResult {
				t.Errorf("the trail holds %d records, want the redemption once, then the result: %+v", len(p.Entries), p.Entries)
			}
			if rep, err := l.Verify(ctx, nil); err != nil || !rep.OK {
				t.Errorf("verify: %v %+v", err, rep)
			}
		})
		t.Run("waited", func(t *testing.T) {
			st := &lostAckStore{AuditStore: open(t)}
			l := audit.New(st, testKeys, &audit.Options{CheckpointInterval: -1})
			defer l.Close()
			if err := l.Record(ctx, audit.Event{Type: audit.ToolDecided, Decision: "allow"}); err != nil {
				t.Errorf("a record that committed was reported failed: %v", err)
			}
			if p, err := l.Query(ctx, audit.Filter{}); err != nil || len(p.Entries) != 1 {
				t.Errorf("the trail: %v %+v, want the one record", err, p.Entries)
			}
		})
	})
}
