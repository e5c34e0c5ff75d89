package config_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/internal/store/storetest"
)

// TestClientBecomingNativeDropsItsSecret: a native app cannot keep a
// secret, so a web client changed to native loses its stored secret hash
// (whoever learned the secret cannot go on authenticating with it), and
// the plan says so.
func TestClientBecomingNativeDropsItsSecret(t *testing.T) {
	st := storetest.OpenSQLite(t)
	ctx := context.Background()
	apply := func(src string) []string {
		t.Helper()
		return applySource(t, st, src)
	}
	apply(`tenant: acme
clients:
  - client_id: app
    kind: web
    secret: "0123456789abcdef0123456789abcdef"
    redirect_uris: ["https://app.example/cb"]
`)
	if c, _ := st.Clients().Get(ctx, "app"); c.SecretHash == "" {
		t.Fatal("the web client has no secret stored")
	}
	native := `tenant: acme
clients:
  - client_id: app
    kind: native
    redirect_uris: ["http://127.0.0.1/cb"]
`
	if diff := cmp.Diff([]string{"~ client app (kind, redirect_uris, secret removed)"}, apply(native)); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
	if c, _ := st.Clients().Get(ctx, "app"); c.SecretHash != "" || c.Kind != "native" {
		t.Errorf("the native client kept a secret: kind %q, hash %q", c.Kind, c.SecretHash)
	}
	if again := apply(native); len(again) != 0 {
		t.Errorf("second apply changed %q", again)
	}
}
