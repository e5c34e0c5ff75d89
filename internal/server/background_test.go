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
	t.Cleanup(s.Close)

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
