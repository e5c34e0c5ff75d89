package admin_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/identity/accesstoken"
	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/sqlite"
)

// TestEveryEndpointRefusesWhomItShould: every route of the API, known or
// not, refuses the same callers the same way, before it reads or records
// anything: no token, a token sent any other way than the header, one
// expired, one for /mcp or for another audience, an ID token, one from
// another issuer or signed by a key not the tenant's (401, the challenge);
// a person without the admin role, a client's own token (403). No answer
// echoes the token, carries a record, or lets another origin read it
// (no CORS header), and the trail holds no read of the refused calls.
func TestEveryEndpointRefusesWhomItShould(t *testing.T) {
	ta, root := startAPI(t)
	ctx := t.Context()
	if err := ta.store.Users().Create(ctx, store.User{Username: "mallory", Roles: []string{"sales"}}); err != nil {
		t.Fatal(err)
	}
	// Records for a 200 to show, were one given.
	if _, err := ta.api.Audit.Append(ctx, audit.Event{Type: audit.LoginSucceeded, Actor: "root", Correlation: "c1"}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	claims := func(sub string, aud ...string) accesstoken.Claims {
		return accesstoken.Claims{Issuer: issuer, Subject: sub, ClientID: "admin-script", GrantID: "g-" + sub,
			Audience: aud, JTI: "j-" + sub + strings.Join(aud, ","), IssuedAt: now.Unix(), Expiry: now.Add(time.Hour).Unix()}
	}
	sign := func(k *keys.Manager, typ string, c accesstoken.Claims) string {
		t.Helper()
		tok, err := k.SignJSON(accesstoken.Alg, typ, c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	res := ta.api.Resource()
	expired := claims("root", res)
	expired.IssuedAt, expired.Expiry = now.Add(-2*time.Hour).Unix(), now.Add(-time.Hour).Unix()
	otherIssuer := claims("root", res)
	otherIssuer.Issuer = "http://127.0.0.1:9999"
	// Another tenant's keys, for a token with every claim right.
	st2, err := sqlite.Open(ctx, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st2.Close() })
	sealer, err := keys.NewSealer(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	otherKeys, err := keys.Open(ctx, st2, sealer, nil)
	if err != nil {
		t.Fatal(err)
	}
	machine := claims("admin-script", res)
	machine.GrantID = ""

	const (
		challenge = "challenge"
		forbidden = "forbidden"
	)
	callers := []struct {
		name, auth, query string
		status            int
		want              string
	}{
		{"no token", "", "", 401, challenge},
		{"a token in the query", "", "access_token=" + root, 401, challenge},
		{"a token as Basic", "Basic " + root, "", 401, challenge},
		{"garbage", "Bearer not-a-token", "", 401, "invalid_token"},
		{"expired", "Bearer " + sign(ta.keys, accesstoken.Type, expired), "", 401, "expired"},
		{"a token for /mcp", "Bearer " + sign(ta.keys, accesstoken.Type, claims("root", issuer+"/mcp")), "", 401, "not for the admin API"},
		{"a token for a client", "Bearer " + sign(ta.keys, accesstoken.Type, claims("root", "admin-script")), "", 401, "not for the admin API"},
		{"an ID token", "Bearer " + sign(ta.keys, "JWT", claims("root", res)), "", 401, "invalid_token"},
		{"another issuer's", "Bearer " + sign(ta.keys, accesstoken.Type, otherIssuer), "", 401, "invalid_token"},
		{"another tenant's key", "Bearer " + sign(otherKeys, accesstoken.Type, claims("root", res)), "", 401, "invalid_token"},
		{"no admin role", "Bearer " + sign(ta.keys, accesstoken.Type, claims("mallory", res)), "", 403, forbidden},
		{"a client's own token", "Bearer " + sign(ta.keys, accesstoken.Type, machine), "", 403, forbidden},
	}
	paths := []string{"/admin/api/audit", "/admin/api/audit/streams", "/admin/api/audit/trace?correlation=c1",
		"/admin/api/", "/admin/api/no-such-endpoint"}
	for _, p := range paths {
		for _, c := range callers {
			target := ta.URL + p
			if c.query != "" {
				sep := "?"
				if strings.Contains(p, "?") {
					sep = "&"
				}
				target += sep + c.query
			}
			req, _ := http.NewRequestWithContext(ctx, "GET", target, nil)
			if c.auth != "" {
				req.Header.Set("Authorization", c.auth)
			}
			req.Header.Set("Origin", "https://evil.example")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var parsed map[string]any
			if err := json.Unmarshal(body, &parsed); err != nil {
				t.Errorf("%s, %s: not JSON: %s", p, c.name, body)
			}
			www := resp.Header.Get("WWW-Authenticate")
			got := www + " " + string(body)
			switch {
			case resp.StatusCode != c.status:
				t.Errorf("%s, %s: %d %s; want %d", p, c.name, resp.StatusCode, got, c.status)
			case c.want == challenge && !strings.Contains(www, `resource_metadata="`):
				t.Errorf("%s, %s: no challenge: %q", p, c.name, www)
			case c.want != challenge && !strings.Contains(got, c.want):
				t.Errorf("%s, %s: %s; want %q", p, c.name, got, c.want)
			}
			if _, has := parsed["entries"]; has || strings.Contains(string(body), "login.succeeded") {
				t.Errorf("%s, %s: the answer holds records: %s", p, c.name, body)
			}
			if tok := strings.TrimPrefix(strings.TrimPrefix(c.auth, "Bearer "), "Basic "); tok != "" && strings.Contains(got, tok) {
				t.Errorf("%s, %s: the answer echoes the token: %s", p, c.name, got)
			}
			if v := resp.Header.Get("Access-Control-Allow-Origin"); v != "" {
				t.Errorf("%s, %s: Access-Control-Allow-Origin %q", p, c.name, v)
			}
			if v := resp.Header.Get("Cache-Control"); v != "no-store" {
				t.Errorf("%s, %s: Cache-Control %q", p, c.name, v)
			}
		}
	}
	// A browser's preflight for another origin is answered with no CORS
	// header: no page elsewhere can send an admin's token here.
	req, _ := http.NewRequestWithContext(ctx, "OPTIONS", ta.URL+"/admin/api/audit", nil)
	req.Header.Set("Origin", "https://evil.example")
	req.Header.Set("Access-Control-Request-Method", "GET")
	req.Header.Set("Access-Control-Request-Headers", "authorization")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode < 400 || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
	page, err := ta.api.Audit.Query(ctx, audit.Filter{Types: []string{audit.AuditRead}})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Entries) != 0 {
		t.Errorf("%d reads recorded for refused calls: %s", len(page.Entries), page.Entries[0].Raw)
	}
	// The admin's own token still opens every endpoint that exists.
	for _, p := range paths[:3] {
		if status, body := ta.get(t, p, root); status != 200 {
			t.Errorf("root, %s: %d %s", p, status, body)
		}
	}
	// The role is read at each call, not taken from the token: an admin
	// whose role is taken away is refused at once, with a token issued
	// while they held it.
	if err := ta.store.Users().Create(ctx, store.User{Username: "ops", Roles: []string{store.AdminRole}}); err != nil {
		t.Fatal(err)
	}
	ops := sign(ta.keys, accesstoken.Type, claims("ops", res))
	if status, body := ta.get(t, "/admin/api/audit/streams", ops); status != 200 {
		t.Fatalf("ops as an admin: %d %s", status, body)
	}
	if err := ta.store.Users().Update(ctx, "ops", func(u store.User) (store.User, error) {
		u.Roles = []string{"sales"}
		return u, nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		if status, body := ta.get(t, p, ops); status != 403 || strings.Contains(body, "entries") {
			t.Errorf("ops without the role, %s: %d %s; want 403", p, status, body)
		}
	}
}
