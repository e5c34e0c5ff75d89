package config_test

import (
	"context"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/internal/store"
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

// TestRegisteredClientKeepsItsLimits: a client registered through dynamic
// registration and then named in the tenant file becomes the file's, and
// keeps what its registration limited it to (grant types, scopes, its
// token endpoint auth method), which the file cannot express: dropping
// them would give it every grant of its kind.
func TestRegisteredClientKeepsItsLimits(t *testing.T) {
	st := storetest.OpenSQLite(t)
	ctx := context.Background()
	reg := store.Client{ClientID: "dcr_abc", Kind: store.KindWeb, Source: store.SourceRegistered, SecretHash: "$argon2id$v=19$m=65536,t=1,p=2$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		RedirectURIs: []string{"https://app.example/cb"}, GrantTypes: []string{"authorization_code", "refresh_token"},
		Scopes: []string{"openid"}, TokenEndpointAuthMethod: "client_secret_post"}
	if err := st.Clients().Create(ctx, reg); err != nil {
		t.Fatal(err)
	}
	applySource(t, st, `tenant: acme
clients:
  - client_id: dcr_abc
    kind: agent
    redirect_uris: ["https://app.example/cb"]
`)
	c, err := st.Clients().Get(ctx, "dcr_abc")
	if err != nil {
		t.Fatal(err)
	}
	if c.Source != store.SourceTenant || c.Kind != store.KindAgent {
		t.Errorf("not the file's now: %+v", c)
	}
	if !slices.Equal(c.GrantTypes, reg.GrantTypes) || !slices.Equal(c.Scopes, reg.Scopes) || c.TokenEndpointAuthMethod != "client_secret_post" || c.SecretHash != reg.SecretHash {
		t.Errorf("the registration's limits were dropped: %+v", c)
	}
}

// TestRegisteredPublicClientGivenASecret: a public registration (auth
// method none) that the tenant file gives a secret becomes a confidential
// client that authenticates with it, not one no method lets in.
func TestRegisteredPublicClientGivenASecret(t *testing.T) {
	st := storetest.OpenSQLite(t)
	ctx := context.Background()
	if err := st.Clients().Create(ctx, store.Client{ClientID: "dcr_pub", Kind: store.KindNative, Source: store.SourceRegistered,
		RedirectURIs: []string{"http://127.0.0.1/cb"}, TokenEndpointAuthMethod: "none"}); err != nil {
		t.Fatal(err)
	}
	applySource(t, st, `tenant: acme
clients:
  - client_id: dcr_pub
    kind: web
    secret: "0123456789abcdef0123456789abcdef"
    redirect_uris: ["https://app.example/cb"]
`)
	c, err := st.Clients().Get(ctx, "dcr_pub")
	if err != nil {
		t.Fatal(err)
	}
	if !c.Confidential() || c.TokenEndpointAuthMethod == "none" {
		t.Errorf("confidential %v, auth method %q: want a secret it can authenticate with", c.Confidential(), c.TokenEndpointAuthMethod)
	}
}
