package cli_test

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/server"
)

// retentionServed is the audit retention a server started on the data
// folder prunes by.
func retentionServed(t *testing.T, data string) time.Duration {
	t.Helper()
	ctx := context.Background()
	ln, err := server.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s, err := server.New(ctx, server.Options{Store: server.StoreOptions{DataDir: data}}, ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	return s.Audit.Retention()
}

// TestAppliedRetentionIsServedAndAWrittenOneIsNot: the retention of a
// tenant file applied with `gatehouse apply` is the one a server prunes
// by; one written to the database behind the CLI's back (someone with
// the database but not the master key, wanting the history gone) is not
// applied, until a tenant file sets it again.
func TestAppliedRetentionIsServedAndAWrittenOneIsNot(t *testing.T) {
	data := t.TempDir()
	c := func(args ...string) result { return must(t, run(t, nil, "", append(args, "--data", data)...)) }
	c("apply", "-f", tenantFile(t, "audit:\n  retention: 2160h\n"))
	if d := retentionServed(t, data); d != 2160*time.Hour {
		t.Fatalf("applied 2160h, served %v", d)
	}

	st, err := server.OpenStore(context.Background(), server.StoreOptions{DataDir: data})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetSetting(context.Background(), "audit.retention", "1h"); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if d := retentionServed(t, data); d != 0 {
		t.Errorf("a retention written to the database is served: %v", d)
	}

	c("apply", "-f", tenantFile(t, "audit:\n  retention: 90d\n"))
	if d := retentionServed(t, data); d != 90*24*time.Hour {
		t.Errorf("applied 90d after the write, served %v", d)
	}
}
