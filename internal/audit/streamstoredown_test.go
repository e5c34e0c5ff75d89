package audit_test

import (
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
)

// TestStreamStoreOutageLoggedOnce: a stream that cannot reach the store
// says so once, as an error, however long the outage lasts and however
// often it tries meanwhile (its tries space out), and says once that it
// reaches the store again. Before, it logged an error at every try, a
// line a second per stream for the whole outage.
func TestStreamStoreOutageLoggedOnce(t *testing.T) {
	var mu sync.Mutex
	var logs strings.Builder
	logger := slog.New(slog.NewTextHandler(writerTo(func(p []byte) {
		mu.Lock()
		defer mu.Unlock()
		logs.Write(p)
	}), nil))
	e := newEnv(t, storetestSQLite, &audit.Options{Logger: logger, PollInterval: 5 * time.Millisecond})
	sink := &gateSink{name: "gate", got: map[int64]bool{}}
	sink.allow.Store(100)
	ss := e.log.Stream([]audit.Sink{sink}, &audit.StreamOptions{MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond})
	defer ss.Close()
	e.record(t, events(1)...)
	waitFor(t, func() bool { return ss.Stats()[0].Cursor >= 1 })
	// The store refuses the stream's claims: an outage, as far as the
	// stream can tell.
	for _, op := range []string{"INSERT", "UPDATE"} {
		if _, err := e.st.SQL().Exec(`CREATE TRIGGER refuse_` + op + ` BEFORE ` + op + ` ON audit_cursors
			BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END`); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, func() bool { return ss.Stats()[0].Failing })
	time.Sleep(300 * time.Millisecond) // many tries at a backoff of 5 to 20 ms
	for _, op := range []string{"INSERT", "UPDATE"} {
		if _, err := e.st.SQL().Exec(`DROP TRIGGER refuse_` + op); err != nil {
			t.Fatal(err)
		}
	}
	e.record(t, events(1)...)
	waitFor(t, func() bool { return ss.Stats()[0].Cursor >= 2 && !ss.Stats()[0].Failing })
	mu.Lock()
	defer mu.Unlock()
	got := logs.String()
	if n := strings.Count(got, "level=ERROR"); n != 1 {
		t.Errorf("%d ERROR lines for one outage, want 1:\n%s", n, got)
	}
	if n := strings.Count(got, "reaches the store again"); n != 1 {
		t.Errorf("%d lines saying the store is back, want 1:\n%s", n, got)
	}
}

type writerTo func([]byte)

func (w writerTo) Write(p []byte) (int, error) { w(p); return len(p), nil }
