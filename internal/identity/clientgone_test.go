package identity

import (
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/audit"
)

// waitingRecorder fails as a durable wait does when its context ends.
type waitingRecorder struct{}

func (waitingRecorder) Record(ctx context.Context, _ audit.Event) error {
	if err := ctx.Err(); err != nil {
		return errors.Join(errors.New("audit record not confirmed"), err)
	}
	return errors.New("store down")
}

// A client that went away while its audit record was being confirmed is
// not a server failure: logged at the information level, not as an error.
// A failure with the client still there stays an error.
func TestClientGoneIsNotAnError(t *testing.T) {
	var logs strings.Builder
	p := &Provider{Logger: slog.New(slog.NewTextHandler(&logs, nil)), Audit: waitingRecorder{}}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := httptest.NewRequestWithContext(ctx, "POST", "/token", nil)
	err := p.record(ctx, audit.Event{Type: audit.TokenIssued})
	p.writeError(httptest.NewRecorder(), r, err)
	if got := logs.String(); strings.Contains(got, "level=ERROR") || !strings.Contains(got, "client went away") {
		t.Errorf("client gone logged as:\n%s", got)
	}

	logs.Reset()
	r = httptest.NewRequest("POST", "/token", nil)
	err = p.record(r.Context(), audit.Event{Type: audit.TokenIssued})
	w := httptest.NewRecorder()
	p.writeError(w, r, err)
	if got := logs.String(); !strings.Contains(got, "level=ERROR") || strings.Contains(got, "went away") || w.Code != 500 {
		t.Errorf("store failure answered %d, logged as:\n%s", w.Code, got)
	}
}
