package admin_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/admin"
	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/identity"
	"github.com/gatehouse/gatehouse/internal/identity/accesstoken"
	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/sqlite"
)

// TestIssuerWithAPath: under an issuer with a path, the API answers at its
// resource URI (the issuer's path, then /admin/api), as /mcp does, and its
// challenge points at its RFC 9728 metadata where that is served: the
// well-known prefix at the host's root, before the resource's path
// (RFC 9728 §3.1), not under the issuer's path.
func TestIssuerWithAPath(t *testing.T) {
	const iss = "https://id.example/tenants/acme"
	ctx := t.Context()
	st, err := sqlite.Open(ctx, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sealer, err := keys.NewSealer(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	ks, err := keys.Open(ctx, st, sealer, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Clients().Create(ctx, store.Client{ClientID: "admin-script", Kind: store.KindNative}); err != nil {
		t.Fatal(err)
	}
	if err := st.Users().Create(ctx, store.User{Username: "root", Roles: []string{store.AdminRole}}); err != nil {
		t.Fatal(err)
	}
	trail := audit.New(st, ks, &audit.Options{CheckpointInterval: -1})
	t.Cleanup(func() { trail.Close() })
	idp := &identity.Provider{Issuer: iss, Store: st, Keys: ks, ClientCacheTTL: -1}
	api := &admin.API{Issuer: iss, Keys: ks, Store: st, Audit: trail, Standing: idp.Standing}
	mux := http.NewServeMux()
	api.Mount(mux)
	if api.Resource() != iss+"/admin/api" {
		t.Fatalf("resource %s", api.Resource())
	}
	// A token issued a minute from now: the person and client were created
	// just now by the store's clock, and the API refuses a token from
	// before them.
	now := time.Now().Add(time.Minute)
	tok, err := accesstoken.Mint(ks, accesstoken.Claims{Issuer: iss, Subject: "root", ClientID: "admin-script",
		GrantID: "g", Audience: accesstoken.Audience{api.Resource()}, JTI: "j", IssuedAt: now.Unix(), Expiry: now.Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	api.Now = func() time.Time { return now }

	get := func(path, tok string) *httptest.ResponseRecorder {
		req := httptest.NewRequestWithContext(ctx, "GET", "https://id.example"+path, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, req)
		return w
	}
	if w := get("/tenants/acme/admin/api/audit", tok); w.Code != 200 {
		t.Errorf("GET at the resource URI: %d %s", w.Code, w.Body)
	}
	w := get("/tenants/acme/admin/api/audit", "")
	const meta = "/.well-known/oauth-protected-resource/tenants/acme/admin/api"
	if w.Code != 401 || !strings.Contains(w.Header().Get("WWW-Authenticate"), `resource_metadata="https://id.example`+meta+`"`) {
		t.Errorf("challenge: %d %q", w.Code, w.Header().Get("WWW-Authenticate"))
	}
	if w := get(meta, ""); w.Code != 200 || !strings.Contains(w.Body.String(), api.Resource()) {
		t.Errorf("metadata: %d %s", w.Code, w.Body)
	}
}
