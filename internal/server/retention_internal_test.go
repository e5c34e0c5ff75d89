package server

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store/storetest"
)

// TestRetentionReadFailure: a failure to read the retention setting is
// an error, for the caller to keep what it has and try again, not "no
// retention set", which would silently turn pruning off.
func TestRetentionReadFailure(t *testing.T) {
	st := storetest.OpenSQLite(t)
	ctx := context.Background()
	s := &Server{Store: st}
	if d, err := s.retention(ctx); d != 0 || err != nil {
		t.Errorf("none set: %v %v, want 0 and no error", d, err)
	}
	if err := st.SetSetting(ctx, "audit.retention", "90d"); err != nil {
		t.Fatal(err)
	}
	if d, err := s.retention(ctx); d != 90*24*time.Hour || err != nil {
		t.Errorf("90d: %v %v", d, err)
	}
	st.Close() // the database gone, as in an outage
	if d, err := s.retention(ctx); err == nil {
		t.Errorf("a failed read gave retention %v and no error", d)
	}
}
