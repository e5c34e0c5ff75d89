package cli

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/server"
)

// TestServeReportsAuditCloseFailure: when the audit trail cannot be closed
// properly at shutdown (its last checkpoint, signed over the head, cannot
// be stored: the database went away), serve returns that error, so that
// 'gatehouse serve' says so and exits 1. It used to be dropped: nothing
// logged, exit code 0.
func TestServeReportsAuditCloseFailure(t *testing.T) {
	var out bytes.Buffer
	env := &Env{Stdout: &out, Stderr: &out, Stdin: strings.NewReader(""), Getenv: func(string) string { return "" }}
	o := server.Options{Addr: "127.0.0.1:0", Store: server.StoreOptions{DataDir: t.TempDir()}, MetricsAddr: ""}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	err := serve(ctx, env, o, func(context.Context, *server.Server) error { return nil }, func(s *server.Server, _ net.Addr) {
		if err := s.Audit.Record(ctx, audit.Event{Type: audit.AdminChange, Actor: "test"}); err != nil {
			t.Error(err)
		}
		// The database goes away while the server runs.
		s.Store.SQL().Close()
		cancel()
	})
	if err == nil || !strings.Contains(err.Error(), "checkpoint") {
		t.Errorf("serve returned %v, want the audit trail's failure to close", err)
	}
}
