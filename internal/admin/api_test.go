package admin_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/admin"
	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/identity/accesstoken"
	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/sqlite"
)

const issuer = "http://127.0.0.1:8080"

// startAPI serves the admin API over a real SQLite store and returns its
// URL and a token of root, who holds the admin role.
func startAPI(t *testing.T) (string, string) {
	t.Helper()
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
	if err := st.Users().Create(ctx, store.User{Username: "root", Roles: []string{store.AdminRole}}); err != nil {
		t.Fatal(err)
	}
	trail := audit.New(st, ks, &audit.Options{CheckpointInterval: -1})
	t.Cleanup(func() { trail.Close() })
	api := &admin.API{Issuer: issuer, Keys: ks, Store: st, Audit: trail}
	mux := http.NewServeMux()
	api.Mount(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	now := time.Now()
	tok, err := accesstoken.Mint(ks, accesstoken.Claims{Issuer: issuer, Subject: "root", Audience: accesstoken.Audience{api.Resource()},
		ClientID: "admin-script", JTI: "jti-1", IssuedAt: now.Unix(), Expiry: now.Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	return srv.URL, tok
}

// TestAuditQueryRefusesFiltersThatMatchNothing: a misspelt event type or
// an empty time window is a 400 that says what is wrong, never an empty
// page that reads as "nothing happened".
func TestAuditQueryRefusesFiltersThatMatchNothing(t *testing.T) {
	base, tok := startAPI(t)
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
	} {
		req, _ := http.NewRequestWithContext(t.Context(), "GET", base+"/admin/api/audit?"+tc.query, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.want) {
			t.Errorf("%s: %d %s; want %d and %s", tc.query, resp.StatusCode, body, tc.status, tc.want)
		}
	}
}
