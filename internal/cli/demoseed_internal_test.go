package cli

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/storetest"
)

// refusingTrail is an audit trail whose every transaction fails, as a
// seeding stopped half-way does.
type refusingTrail struct{}

func (refusingTrail) InTx(context.Context, func(store.Tenant) ([]audit.Event, error)) (int64, error) {
	return 0, errors.New("the trail is down")
}

// TestDemoFolderMarkedFirst: a demo seeding that fails leaves the folder
// marked as the demo's, so a real tenant file applied to it later is
// still refused without --prune (which removes the demo's published
// users), instead of taking the folder for a real tenant's.
func TestDemoFolderMarkedFirst(t *testing.T) {
	st := storetest.OpenSQLite(t)
	ctx := context.Background()
	var out bytes.Buffer
	if err := seedDemo(ctx, &Env{Stdout: &out}, st, refusingTrail{}, nil); err == nil {
		t.Fatal("the seeding went through a trail that refuses")
	}
	if v, err := st.Setting(ctx, demoSetting); err != nil || v == "" {
		t.Fatalf("the folder is not marked as the demo's: %q %v", v, err)
	}
	f, err := config.Parse(strings.NewReader("tenant: real\n"), "real.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := applyAudited(ctx, st, refusingTrail{}, "someone", f, nil); !errors.Is(err, errDemoStore) {
		t.Errorf("a real tenant file over the demo's folder, without --prune: %v, want %v", err, errDemoStore)
	}
}
