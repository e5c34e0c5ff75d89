package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/server"
)

// TestFederationFromTenantFile: a connection declared in the tenant file
// becomes a sign-in button that sends the browser to the upstream, with
// the client secret taken from the environment variable the file names.
func TestFederationFromTenantFile(t *testing.T) {
	upstream := discoveryOnlyIdP()
	defer upstream.Close()

	data := t.TempDir()
	tenant := `tenant: acme
roles: [{name: sales-manager}]
connections:
  - name: corp
    display_name: Corp SSO
    issuer: ` + upstream.URL + `
    client_id: gatehouse-at-corp
    client_secret_env: CORP_SECRET
    roles_claim: groups
    role_map: {sales: [sales-manager]}
`
	f, err := config.Parse(strings.NewReader(tenant), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Validate(nil); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := server.OpenStore(ctx, server.StoreOptions{DataDir: data})
	if err != nil {
		t.Fatal(err)
	}
	plan, err := config.Apply(ctx, st, f, config.Argon2, nil)
	st.Close()
	if err != nil || !strings.Contains(planText(plan), "+ connection corp") {
		t.Fatalf("apply: %v %v", plan, err)
	}

	// Without its secret the server refuses to start, naming the field
	// (not the variable: a secret may have been stored as its name).
	ln, _ := server.Listen("127.0.0.1:0")
	_, err = server.New(ctx, server.Options{Store: server.StoreOptions{DataDir: data},
		Getenv: func(string) string { return "" }}, ln.Addr().String())
	ln.Close()
	if err == nil || !strings.Contains(err.Error(), "connection corp: client_secret_env") || strings.Contains(err.Error(), "CORP_SECRET") {
		t.Fatalf("start without the secret: %v", err)
	}

	env := map[string]string{"CORP_SECRET": "corp-client-secret"}
	_, base, cancel, done := start(t, server.Options{Store: server.StoreOptions{DataDir: data},
		Getenv: func(k string) string { return env[k] }})
	defer func() { cancel(); <-done }()
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(base + "/login")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	page := string(b)
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)
	if !strings.Contains(page, "Sign in with Corp SSO") || !strings.Contains(page, `action="`+base+`/login/corp"`) || csrf == nil {
		t.Fatalf("login page has no Corp SSO button:\n%s", page)
	}
	resp, err = client.PostForm(base+"/login/corp", url.Values{"csrf": {csrf[1]}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode/100 != 3 || loc == nil || !strings.HasPrefix(loc.String(), upstream.URL+"/authorize") ||
		loc.Query().Get("client_id") != "gatehouse-at-corp" || loc.Query().Get("code_challenge") == "" {
		t.Errorf("sign-in with corp: %d → %s", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func planText(p config.Plan) string {
	var b strings.Builder
	for _, c := range p {
		b.WriteString(c.String() + "\n")
	}
	return b.String()
}

// discoveryOnlyIdP serves an upstream OpenID provider's discovery document,
// and nothing else: enough for a connection to start and to send a browser
// to its authorization endpoint. The caller closes it.
func discoveryOnlyIdP() *httptest.Server {
	var idp *httptest.Server
	idp = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/openid-configuration" {
			http.NotFound(w, r)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{
			"issuer": idp.URL, "authorization_endpoint": idp.URL + "/authorize",
			"token_endpoint": idp.URL + "/token", "jwks_uri": idp.URL + "/jwks",
			"id_token_signing_alg_values_supported": []string{"RS256"},
		})
	}))
	return idp
}
