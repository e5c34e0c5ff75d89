package admin_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/admin"
	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/identity"
	"github.com/gatehouse/gatehouse/internal/identity/accesstoken"
	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/sqldb"
	"github.com/gatehouse/gatehouse/internal/store/sqlite"
)

const issuer = "http://127.0.0.1:8080"

// testAPI is the admin API over a real SQLite store, with the identity
// provider's standing checks.
type testAPI struct {
	URL   string
	store store.Store
	keys  *keys.Manager
	api   *admin.API
}

// startAPI serves the admin API over a real SQLite store and returns it
// and a token of root, who holds the admin role, signed in through the
// admin-script client.
func startAPI(t *testing.T) (*testAPI, string) {
	t.Helper()
	ctx := t.Context()
	// The clock the store dates records by: the admin-script client is
	// an hour old, root is created now.
	var clock atomic.Int64
	clock.Store(time.Now().Add(-time.Hour).UnixMicro())
	st, err := sqlite.Open(ctx, t.TempDir(), &sqldb.Options{Now: func() time.Time { return time.UnixMicro(clock.Load()) }})
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
	clock.Store(time.Now().UnixMicro())
	if err := st.Users().Create(ctx, store.User{Username: "root", Roles: []string{store.AdminRole}}); err != nil {
		t.Fatal(err)
	}
	trail := audit.New(st, ks, &audit.Options{CheckpointInterval: -1})
	t.Cleanup(func() { trail.Close() })
	idp := &identity.Provider{Issuer: issuer, Store: st, Keys: ks, ClientCacheTTL: -1}
	api := &admin.API{Issuer: issuer, Keys: ks, Store: st, Audit: trail, Standing: idp.Standing}
	mux := http.NewServeMux()
	api.Mount(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	ta := &testAPI{URL: srv.URL, store: st, keys: ks, api: api}
	return ta, ta.token(t, accesstoken.Claims{Subject: "root", ClientID: "admin-script", GrantID: "grant-1"})
}

// token mints an admin API token with c's subject, client, grant and act,
// issued now unless c says when.
func (ta *testAPI) token(t *testing.T, c accesstoken.Claims) string {
	t.Helper()
	now := time.Now()
	if c.IssuedAt == 0 {
		c.IssuedAt = now.Unix()
	}
	c.Issuer, c.Audience, c.JTI, c.Expiry = issuer, accesstoken.Audience{ta.api.Resource()}, "jti-"+c.Subject+c.ClientID, now.Add(time.Hour).Unix()
	tok, err := accesstoken.Mint(ta.keys, c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// get sends GET path with the token and returns the status and the
// challenge and body.
func (ta *testAPI) get(t *testing.T, path, tok string) (int, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), "GET", ta.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate") + " " + string(body)
}

// A token opens the API only while it stands and only as a person's: a
// service client named like an admin is not that admin, and a token of a
// disabled or removed client, or of an earlier person of the admin's
// name, is refused though its signature and audience are good.
func TestTokensThatNoLongerStand(t *testing.T) {
	ta, root := startAPI(t)
	ctx := t.Context()
	if status, body := ta.get(t, "/admin/api/audit", root); status != 200 {
		t.Fatalf("root: %d %s", status, body)
	}
	// A service client whose ID is an admin's username: client_credentials
	// gives it a token whose subject is "root", and no grant.
	if err := ta.store.Clients().Create(ctx, store.Client{ClientID: "root", Kind: store.KindService}); err != nil {
		t.Fatal(err)
	}
	machine := ta.token(t, accesstoken.Claims{Subject: "root", ClientID: "root"})
	if status, body := ta.get(t, "/admin/api/audit", machine); status != 403 || !strings.Contains(body, "admin role") {
		t.Errorf("a service client named root: %d %s; want 403", status, body)
	}
	// root's token from before root was created (an earlier root's),
	// through a client older than that token.
	earlier := ta.token(t, accesstoken.Claims{Subject: "root", ClientID: "admin-script", GrantID: "grant-0",
		IssuedAt: time.Now().Add(-10 * time.Minute).Unix()})
	if status, body := ta.get(t, "/admin/api/audit", earlier); status != 401 || !strings.Contains(body, "earlier person") {
		t.Errorf("an earlier root's token: %d %s; want 401", status, body)
	}
	// The client the token was issued to is disabled, then removed.
	if err := ta.store.Clients().Update(ctx, "admin-script", func(c store.Client) (store.Client, error) {
		c.Disabled = true
		return c, nil
	}); err != nil {
		t.Fatal(err)
	}
	if status, body := ta.get(t, "/admin/api/audit/streams", root); status != 401 || !strings.Contains(body, `error="invalid_token"`) ||
		!strings.Contains(body, "the client is disabled") {
		t.Errorf("a disabled client's token: %d %s; want 401", status, body)
	}
	if err := ta.store.Clients().Delete(ctx, "admin-script"); err != nil {
		t.Fatal(err)
	}
	if status, body := ta.get(t, "/admin/api/audit", root); status != 401 || !strings.Contains(body, "no longer exists") {
		t.Errorf("a removed client's token: %d %s; want 401", status, body)
	}
}

// TestAuditQueryRefusesFiltersThatMatchNothing: a misspelt event type or
// an empty time window is a 400 that says what is wrong, never an empty
// page that reads as "nothing happened".
func TestAuditQueryRefusesFiltersThatMatchNothing(t *testing.T) {
	ta, tok := startAPI(t)
	for _, tc := range []struct {
		query  string
		status int
		want   string
	}{
		{"type=bogus.type", 400, `type \"bogus.type\": no such event type (known: login.succeeded`},
		{"type=admin.change&type=tool.decison", 400, `\"tool.decison\"`},
		{"since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z", 400, "is not before until"},
		{"since=1h&until=2h", 400, "is not before until"},
		{"type=admin.change&type=audit.read&since=2h&until=1h", 200, `"entries"`},
		// A pair URL.Query would drop silently, widening the answer.
		{"actor=%zz&type=admin.change", 400, `the query string is malformed`},
		{"actor=root;type=admin.change", 400, `the query string is malformed`},
	} {
		status, body := ta.get(t, "/admin/api/audit?"+tc.query, tok)
		if status != tc.status || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %d %s; want %d and %s", tc.query, status, body, tc.status, tc.want)
		}
	}
}
