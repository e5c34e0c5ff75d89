package server_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/server"
)

// TestStoredClientSecretEnv: a connection stored before the tenant file
// asked for upper-case variable names (client_secret_env:
// corp_oidc_secret) still lets the server start with the secret read from
// that variable; one whose stored "name" is no name at all (a secret put
// there) keeps it from starting, and neither error repeats the name.
func TestStoredClientSecretEnv(t *testing.T) {
	idp := discoveryOnlyIdP()
	defer idp.Close()

	ctx := context.Background()
	data := t.TempDir()
	// store writes the connections setting directly, as an older release's
	// apply did: the tenant file's rule does not run.
	store := func(secretEnv string) {
		t.Helper()
		st, err := server.OpenStore(ctx, server.StoreOptions{DataDir: data})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		b, err := json.Marshal([]config.Connection{{Name: "corp", Issuer: idp.URL, ClientID: "gatehouse-at-corp",
			ClientSecretEnv: secretEnv}})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.SetSetting(ctx, config.SettingConnections, string(b)); err != nil {
			t.Fatal(err)
		}
	}
	newServer := func(env map[string]string) error {
		ln, err := server.Listen("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		s, err := server.New(ctx, server.Options{Store: server.StoreOptions{DataDir: data},
			Getenv: func(k string) string { return env[k] }}, ln.Addr().String())
		if err == nil {
			s.Close()
		}
		return err
	}

	store("corp_oidc_secret")
	if err := newServer(map[string]string{"corp_oidc_secret": "corp-client-secret"}); err != nil {
		t.Fatalf("a stored lower-case client_secret_env: %v", err)
	}
	err := newServer(nil)
	if err == nil || !strings.Contains(err.Error(), "connection corp: client_secret_env") || strings.Contains(err.Error(), "corp_oidc_secret") {
		t.Errorf("start without the secret: %v", err)
	}

	for _, notAName := range []string{"ghp_x y", "1BAD", "GATEHOUSE_MASTER_KEY"} {
		store(notAName)
		err := newServer(map[string]string{notAName: "whatever"})
		if err == nil || !strings.Contains(err.Error(), "connection corp: client_secret_env") || strings.Contains(err.Error(), notAName) {
			t.Errorf("client_secret_env %q stored: %v", notAName, err)
		}
	}
}
