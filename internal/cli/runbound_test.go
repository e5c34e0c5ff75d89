package cli_test

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// fatalRecorder is a testing.TB whose Fatalf records instead of stopping,
// so a test can see that a helper failed.
type fatalRecorder struct {
	testing.TB
	failed string
}

func (f *fatalRecorder) Helper() {}
func (f *fatalRecorder) Fatalf(format string, a ...any) {
	f.failed = fmt.Sprintf(format, a...)
}

// TestRunHelperBoundsAServeThatStarts: a serve case that wrongly starts
// the server fails the test once the helper's bound passes, rather than
// hanging it until go test's own timeout.
func TestRunHelperBoundsAServeThatStarts(t *testing.T) {
	rec := &fatalRecorder{TB: t}
	done := make(chan result, 1)
	go func() {
		done <- runWithin(rec, time.Second, nil, "", "serve", "--addr", "127.0.0.1:0", "--data", t.TempDir())
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the helper did not end a serve that started within 30s of its 1s bound")
	}
	if !strings.Contains(rec.failed, "still running after 1s") {
		t.Errorf("the helper did not fail the test: %q", rec.failed)
	}
}
