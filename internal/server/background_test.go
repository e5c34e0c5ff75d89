package server_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/server"
)

// TestKeyRotationRightAfterStartIsPickedUp: a 'keys rotate' run in the
// first seconds of 'serve' (here: after the server loaded its keys, before
// its first background tick) is served without waiting for another
// change to the tenant.
func TestKeyRotationRightAfterStartIsPickedUp(t *testing.T) {
	ctx := context.Background()
	o := server.Options{Store: server.StoreOptions{DataDir: t.TempDir()}, BackgroundInterval: 20 * time.Millisecond}
	ln, err := server.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := server.New(ctx, o, ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })

	// 'gatehouse keys rotate': another process, its own store handle.
	st, err := server.OpenStore(ctx, o.Store)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ks, err := server.OpenKeys(ctx, st, o.Store)
	if err != nil {
		t.Fatal(err)
	}
	if err := ks.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	infos, err := ks.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var fresh []string
	for _, k := range infos {
		if k.Retired.IsZero() {
			fresh = append(fresh, k.ID)
		}
	}

	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Serve(sctx, ln, o) }()
	defer func() { cancel(); <-done }()
	base := "http://" + ln.Addr().String()
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, jwks, _ := get(t, base+"/jwks.json")
		missing := ""
		for _, kid := range fresh {
			if !strings.Contains(jwks, `"`+kid+`"`) {
				missing = kid
			}
		}
		if code == 200 && missing == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the rotated key %s is not served (ticks every %v):\n%d %s", missing, o.BackgroundInterval, code, jwks)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestKeyReloadRetriedAfterAFailure: a reload of the signing keys that
// fails (here: a key row that does not open, there when a rotation lands)
// is tried again at the next tick, not only at the next change of the
// tenant: once the row is gone, the rotated keys are served, though
// nothing changed since.
func TestKeyReloadRetriedAfterAFailure(t *testing.T) {
	ctx := context.Background()
	o := server.Options{Store: server.StoreOptions{DataDir: t.TempDir()}, BackgroundInterval: 20 * time.Millisecond}
	_, base, cancel, done := start(t, o)
	defer func() { cancel(); <-done }()

	st, err := server.OpenStore(ctx, o.Store)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ks, err := server.OpenKeys(ctx, st, o.Store)
	if err != nil {
		t.Fatal(err)
	}
	broken := `INSERT INTO signing_keys (name, doc, created_at, updated_at) VALUES ('broken',
		'{"id":"broken","alg":"EdDSA","private":"bm90IGEgc2VhbA=="}', 0, 0)`
	if _, err := st.SQL().Exec(broken); err != nil {
		t.Fatal(err)
	}
	// The rotation lands (its keys stored, the tenant's revision moved)
	// while the broken row makes every load fail, its own included.
	if err := ks.RotateNow(ctx); err == nil {
		t.Fatal("a load with the broken row succeeded")
	}
	infos, err := ks.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var fresh []string
	for _, k := range infos {
		if k.Retired.IsZero() && k.ID != "broken" && k.ID != "" {
			fresh = append(fresh, k.ID)
		}
	}
	if len(fresh) == 0 {
		t.Fatalf("no rotated key stored: %+v", infos)
	}
	time.Sleep(200 * time.Millisecond) // ticks whose reload fails
	if _, err := st.SQL().Exec("DELETE FROM signing_keys WHERE name = 'broken'"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, jwks, _ := get(t, base+"/jwks.json")
		served := true
		for _, kid := range fresh {
			served = served && strings.Contains(jwks, `"`+kid+`"`)
		}
		if served {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the rotated keys %v are not served after the failed reload:\n%s", fresh, jwks)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
