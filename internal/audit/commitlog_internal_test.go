package audit

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse/gatehouse/internal/store/storetest"
)

// TestCommitFailureErrorOnceReported: a failed commit whose records' callers
// all wait for them is a warning in the writer's log: each caller is handed
// the error and reports it with what it was doing (the gateway, the request
// it refused), and an operator alerting on errors gets one line per refused
// request, not two. Records no caller waits for (enqueued) have no one else
// to report them: their failed commit stays an error.
func TestCommitFailureErrorOnceReported(t *testing.T) {
	var mu sync.Mutex
	var lines []string
	logger := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		lines = append(lines, string(p))
		return len(p), nil
	}), nil))
	take := func() string {
		mu.Lock()
		defer mu.Unlock()
		out := strings.Join(lines, "")
		lines = nil
		return out
	}
	f := &flakyStore{AuditStore: storetest.OpenSQLite(t)}
	l := New(f, nil, &Options{Logger: logger})
	ctx := context.Background()

	f.failNext.Store(1)
	if err := l.Record(ctx, Event{Type: "waited"}); err == nil {
		t.Fatal("a record whose commit failed was confirmed")
	}
	if got := take(); !strings.Contains(got, "level=WARN") || !strings.Contains(got, "audit commit failed") || strings.Contains(got, "level=ERROR") {
		t.Errorf("a failed commit whose caller waits logged %q, want one warning", got)
	}

	f.failNext.Store(1)
	if err := l.Enqueue(ctx, Event{Type: "queued"}); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil { // waits until the queued record is committed
		t.Fatal(err)
	}
	if got := take(); !strings.Contains(got, "level=ERROR") || !strings.Contains(got, "audit commit failed") {
		t.Errorf("a failed commit of an enqueued record logged %q, want an error", got)
	}
	if got := types(t, f); !equal(got, []string{"queued"}) {
		t.Errorf("the store holds %v, want the enqueued record, committed on a retry", got)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
