package e2e_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/e2e"
	"github.com/gatehouse/gatehouse/internal/store"
)

// adminTenant is mcpTenant plus a person holding the built-in admin role.
var adminTenant = strings.Replace(mcpTenant, "tools:\n", `  - username: root
    email: root@acme.example
    password: root-e2e-password
    roles: [admin]
clients:
  - client_id: admin-script
    kind: native
    redirect_uris: ["http://127.0.0.1/callback"]
tools:
`, 1)

// adminToken signs username in through the admin-script client with
// golang.org/x/oauth2 (code + PKCE, RFC 8707 resource = the admin API, as
// the API's protected resource metadata names it) and returns the token.
func adminToken(t *testing.T, g *e2e.Gatehouse, username, password string) string {
	t.Helper()
	ctx := t.Context()
	var prm struct {
		Resource             string   `json:"resource"`
		AuthorizationServers []string `json:"authorization_servers"`
	}
	getJSON(t, wellKnown(t, g.URL+"/admin/api", "oauth-protected-resource"), &prm)
	if prm.Resource != g.URL+"/admin/api" || len(prm.AuthorizationServers) != 1 {
		t.Fatalf("admin API metadata = %+v", prm)
	}
	var as struct {
		AuthorizationEndpoint string `json:"authorization_endpoint"`
		TokenEndpoint         string `json:"token_endpoint"`
	}
	getJSON(t, wellKnown(t, prm.AuthorizationServers[0], "oauth-authorization-server"), &as)
	cfg := &oauth2.Config{ClientID: "admin-script", RedirectURL: "http://127.0.0.1:50111/callback",
		Endpoint: oauth2.Endpoint{AuthURL: as.AuthorizationEndpoint, TokenURL: as.TokenEndpoint, AuthStyle: oauth2.AuthStyleInParams}}
	verifier := oauth2.GenerateVerifier()
	resource := oauth2.SetAuthURLParam("resource", prm.Resource)
	loc, err := mcpSignIn(ctx, cfg.AuthCodeURL("st-1", oauth2.S256ChallengeOption(verifier), resource), username, password)
	if err != nil {
		t.Fatal(err)
	}
	if loc.Query().Get("state") != "st-1" || loc.Query().Get("code") == "" {
		t.Fatalf("redirect %s", loc)
	}
	tok, err := cfg.Exchange(ctx, loc.Query().Get("code"), oauth2.VerifierOption(verifier), resource)
	if err != nil {
		t.Fatal(err)
	}
	return tok.AccessToken
}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %v", u, resp.StatusCode, err)
	}
}

type adminPage struct {
	Entries []audit.Entry `json:"entries"`
	Next    string        `json:"next"`
}

func adminGet(t *testing.T, g *e2e.Gatehouse, token, query string) (int, adminPage, string) {
	t.Helper()
	var p adminPage
	status, body := adminDo(t, g, "GET", token, "/admin/api/audit?"+query, &p)
	return status, p, body
}

// adminDo sends method to path (with its query) with token, decodes a 200
// answer into v, and returns the status and the challenge and body.
func adminDo(t *testing.T, g *e2e.Gatehouse, method, token, path string, v any) (int, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), method, g.URL+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK && v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
	}
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate") + " " + resp.Header.Get("Allow") + " " + string(body)
}

// The admin API answers audit queries to a person holding the admin role,
// with filters and cursor pagination, records each read in the trail, and
// refuses everyone else.
func TestAdminAuditAPI(t *testing.T) {
	g := e2e.Start(t, adminTenant, nil)
	root := adminToken(t, g, "root", "root-e2e-password")
	alice := adminToken(t, g, "alice", "alice-e2e-password")
	aliceMCP := mcpToken(t, g, "alice", "alice-e2e-password")

	// Filters: root's own sign-in.
	status, p, body := adminGet(t, g, root, url.Values{"type": {audit.LoginSucceeded}, "actor": {"root"}}.Encode())
	if status != 200 || len(p.Entries) != 1 || p.Entries[0].Event.Actor != "root" {
		t.Fatalf("root's logins: %d %s", status, body)
	}
	// Pagination: every login and token, a page of one at a time, in
	// order, the same records as one big page.
	q := url.Values{"type": {audit.LoginSucceeded, audit.TokenIssued}}
	_, all, _ := adminGet(t, g, root, q.Encode()+"&limit=1000")
	if len(all.Entries) < 4 {
		t.Fatalf("%d login and token records, want at least 4", len(all.Entries))
	}
	var paged []int64
	for after := ""; ; {
		pq := q.Encode() + "&limit=1"
		if after != "" {
			pq += "&after=" + after
		}
		status, p, body := adminGet(t, g, root, pq)
		if status != 200 || len(p.Entries) > 1 {
			t.Fatalf("page after %q: %d %s", after, status, body)
		}
		for _, e := range p.Entries {
			paged = append(paged, e.Seq)
		}
		if p.Next == "" || len(paged) > len(all.Entries) {
			break
		}
		after = p.Next
	}
	if len(paged) < len(all.Entries) {
		t.Errorf("paging saw %d records, one page %d", len(paged), len(all.Entries))
	}
	for i := range all.Entries {
		if i < len(paged) && paged[i] != all.Entries[i].Seq {
			t.Fatalf("paging order %v differs from %d at %d", paged, all.Entries[i].Seq, i)
		}
	}
	// Each read is in the trail, with who asked and what.
	_, reads, _ := adminGet(t, g, root, "type="+audit.AuditRead+"&limit=1000")
	if len(reads.Entries) < 3 || reads.Entries[0].Event.Actor != "root" || !strings.Contains(string(reads.Entries[0].Raw), "login.succeeded") {
		t.Errorf("audit reads: %+v", reads.Entries)
	}
	// No record of a sign-in or an issued token holds a token: every one,
	// not only the first (a sign-in, which has none to leak).
	for _, e := range all.Entries {
		if jwsInText.Match(e.Raw) {
			t.Errorf("a token in the trail: %s", e.Raw)
		}
	}

	// A service client whose ID is an admin's username (the tenant file
	// and the admin commands refuse one now; a store may hold one made
	// before) gets a token for the API (client_credentials, RFC 8707
	// resource) whose subject is "root": it is the client's own, not root's.
	hash, err := config.Argon2.Hash("root-service-secret-0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Server.Store.Clients().Create(t.Context(), store.Client{ClientID: "root", Kind: store.KindService,
		SecretHash: hash, Source: store.SourceTenant}); err != nil {
		t.Fatal(err)
	}
	resp, err := http.PostForm(g.URL+"/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {"root"},
		"client_secret": {"root-service-secret-0123456789abcdef"}, "resource": {g.URL + "/admin/api"}})
	if err != nil {
		t.Fatal(err)
	}
	var cc struct {
		AccessToken string `json:"access_token"`
	}
	err = json.NewDecoder(resp.Body).Decode(&cc)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || cc.AccessToken == "" {
		t.Fatalf("client_credentials for the admin API: %d %v", resp.StatusCode, err)
	}

	refusals := []struct {
		name, token, query string
		status             int
		want               string
	}{
		{"no token", "", "", 401, `resource_metadata="` + g.URL + `/.well-known/oauth-protected-resource/admin/api"`},
		{"a token for /mcp", aliceMCP, "", 401, `error="invalid_token"`},
		{"garbage", "not-a-token", "", 401, `error="invalid_token"`},
		{"not an admin", alice, "", 403, "admin role"},
		{"a service client named root", cc.AccessToken, "", 403, "admin role"},
		{"bad decision", root, "decision=maybe", 400, "want allow or deny"},
		{"unknown parameter", root, "user=alice", 400, "unknown parameter"},
		{"limit too high", root, "limit=5000", 400, "1 to 1000"},
		{"bad time", root, "since=yesterday", 400, "RFC 3339"},
		{"bad cursor", root, "after=x", 400, "seq"},
	}
	for _, r := range refusals {
		status, _, body := adminGet(t, g, r.token, r.query)
		if status != r.status || !strings.Contains(body, r.want) {
			t.Errorf("%s: %d %q; want %d with %q", r.name, status, body, r.status, r.want)
		}
		if r.status != 400 { // the stream counters refuse the same callers the same way
			status, body := adminDo(t, g, "GET", r.token, adminStreamsPath, nil)
			if status != r.status || !strings.Contains(body, r.want) {
				t.Errorf("streams, %s: %d %q; want %d with %q", r.name, status, body, r.status, r.want)
			}
		}
	}

	// A revoked token (RFC 7009, by the client it was issued to) is done.
	var as struct {
		RevocationEndpoint string `json:"revocation_endpoint"`
	}
	getJSON(t, g.URL+"/.well-known/oauth-authorization-server", &as)
	resp, err = http.PostForm(as.RevocationEndpoint, url.Values{"token": {root}, "client_id": {"admin-script"}})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("revoke: %v %v", resp, err)
	}
	resp.Body.Close()
	if status, _, body := adminGet(t, g, root, ""); status != 401 || !strings.Contains(body, "revoked") {
		t.Errorf("revoked token: %d %s", status, body)
	}
	if status, body := adminDo(t, g, "GET", root, adminStreamsPath, nil); status != 401 || !strings.Contains(body, "revoked") {
		t.Errorf("streams, revoked token: %d %s", status, body)
	}
}

// TestMetricsAtTheIssuerForAdmins: /metrics is at the issuer, as DESIGN.md's
// URLs have it, for a person holding the admin role with a token for the
// admin API; without a token it answers the admin API's challenge, to a
// person without the role 403, and to a token for /mcp 401: the metrics
// name every upstream and how many callers use each.
func TestMetricsAtTheIssuerForAdmins(t *testing.T) {
	g := e2e.Start(t, adminTenant, nil)
	root := adminToken(t, g, "root", "root-e2e-password")
	alice := adminToken(t, g, "alice", "alice-e2e-password")
	rootMCP := mcpToken(t, g, "root", "root-e2e-password")
	get := func(token string) (int, string, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), "GET", g.URL+"/metrics", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("WWW-Authenticate"), string(body)
	}
	if status, _, body := get(root); status != 200 || !strings.Contains(body, "gatehouse_audit_records_total") {
		t.Errorf("an admin's /metrics: %d\n%.300s", status, body)
	}
	status, challenge, body := get("")
	if status != http.StatusUnauthorized || !strings.Contains(challenge, `resource_metadata="`+g.URL+`/.well-known/oauth-protected-resource/admin/api"`) ||
		strings.Contains(body, "gatehouse_") {
		t.Errorf("/metrics without a token: %d %q\n%.300s", status, challenge, body)
	}
	for who, tc := range map[string]struct {
		token  string
		status int
	}{"alice (no admin role)": {alice, http.StatusForbidden}, "root's token for /mcp": {rootMCP, http.StatusUnauthorized}} {
		if status, _, body := get(tc.token); status != tc.status || strings.Contains(body, "gatehouse_") {
			t.Errorf("%s: /metrics %d, want %d\n%.300s", who, status, tc.status, body)
		}
	}
}

// jwsInText finds a compact JWS (a JWT) in a text: a header beginning
// {" in base64url, a dot, more. Not "eyJ" alone, which a random ID holds
// now and then (one did: at-alice-P7TGiUpeyJOXVTmmjHA4l-).
var jwsInText = regexp.MustCompile(`eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+`)
