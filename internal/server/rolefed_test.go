package server_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/cli"
	"github.com/gatehouse/gatehouse/internal/server"
)

// signingIdP is an upstream OpenID provider that signs in, at once, the
// person sub with the groups given (no login page: the test is not about
// the upstream's).
type signingIdP struct {
	srv    *httptest.Server
	key    *rsa.PrivateKey
	mu     sync.Mutex
	groups []string
	nonces map[string]string // code → nonce
}

func newSigningIdP(t *testing.T, groups ...string) *signingIdP {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p := &signingIdP{key: key, groups: groups, nonces: map[string]string{}}
	b64 := base64.RawURLEncoding
	mux := http.NewServeMux()
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	iss := p.srv.URL
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"issuer": iss, "authorization_endpoint": iss + "/authorize",
			"token_endpoint": iss + "/token", "jwks_uri": iss + "/jwks", "id_token_signing_alg_values_supported": []string{"RS256"}})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"keys": []any{map[string]any{"kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig",
			"n": b64.EncodeToString(key.N.Bytes()), "e": b64.EncodeToString(big.NewInt(int64(key.E)).Bytes())}}})
	})
	mux.HandleFunc("GET /authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		code := b64.EncodeToString([]byte(q.Get("state")))
		p.mu.Lock()
		p.nonces[code] = q.Get("nonce")
		p.mu.Unlock()
		http.Redirect(w, r, q.Get("redirect_uri")+"?"+url.Values{"code": {code}, "state": {q.Get("state")}, "iss": {iss}}.Encode(), http.StatusFound)
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		p.mu.Lock()
		nonce, ok := p.nonces[r.PostForm.Get("code")]
		delete(p.nonces, r.PostForm.Get("code"))
		groups := slices.Clone(p.groups)
		p.mu.Unlock()
		if id, secret, _ := r.BasicAuth(); !ok || id != "gatehouse-at-corp" || secret != "corp-client-secret" {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":"invalid_grant"}`)
			return
		}
		hdr, _ := json.Marshal(map[string]any{"alg": "RS256", "kid": "k1", "typ": "JWT"})
		claims, _ := json.Marshal(map[string]any{"iss": iss, "aud": "gatehouse-at-corp", "sub": "u1", "nonce": nonce,
			"iat": time.Now().Unix(), "exp": time.Now().Add(time.Minute).Unix(), "groups": groups})
		input := b64.EncodeToString(hdr) + "." + b64.EncodeToString(claims)
		sum := sha256.Sum256([]byte(input))
		sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, sum[:])
		if err != nil {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"id_token": input + "." + b64.EncodeToString(sig),
			"access_token": "upstream-access-token", "token_type": "Bearer"})
	})
	return p
}

// signInWithCorp signs in through the login page's Corp button, as a
// browser does, and fails the test unless the sign-in lands.
func signInWithCorp(t *testing.T, base string) {
	t.Helper()
	resp, page := tryCorp(t, base)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Request.URL.String(), base+"/signed-in") {
		t.Fatalf("sign-in with corp ended at %s: %d\n%s", resp.Request.URL, resp.StatusCode, page)
	}
}

// tryCorp presses the login page's Corp button and returns where the
// browser ended.
func tryCorp(t *testing.T, base string) (*http.Response, []byte) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	b := &http.Client{Jar: jar}
	resp, err := b.Get(base + "/login")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(page)
	if csrf == nil {
		t.Fatalf("no sign-in form:\n%s", page)
	}
	resp, err = b.PostForm(base+"/login/corp", url.Values{"csrf": {string(csrf[1])}})
	if err != nil {
		t.Fatal(err)
	}
	page, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, page
}

// corpTenant writes a tenant file with the roles sales and staff and,
// when issuer is set, the connection corp to it, which maps the group
// Sales to sales and gives staff to everyone; it returns the file's path.
func corpTenant(t *testing.T, issuer string) string {
	t.Helper()
	doc := "tenant: acme\nroles: [{name: sales}, {name: staff}]\n"
	if issuer != "" {
		doc += `connections:
  - name: corp
    display_name: Corp SSO
    issuer: ` + issuer + `
    client_id: gatehouse-at-corp
    client_secret_env: CORP_SECRET
    roles_claim: groups
    role_map: {Sales: [sales]}
    default_roles: [staff]
`
	}
	p := filepath.Join(t.TempDir(), "acme.yaml")
	if err := os.WriteFile(p, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// runGatehouse runs the gatehouse command on the data folder data, as an
// operator does beside a serving server, and returns what it printed.
func runGatehouse(t *testing.T, data string, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	e := &cli.Env{Stdout: &out, Stderr: &errb, Stdin: strings.NewReader(""), Getenv: func(string) string { return "" }}
	if code := cli.Run(e, append(args, "--data", data)); code != 0 {
		t.Fatalf("gatehouse %v: exit %d\n%s%s", args, code, out.String(), errb.String())
	}
	return out.String()
}

// syncBuffer is a bytes.Buffer the server may log into from several
// goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// waitForLog waits until the log holds want n times.
func waitForLog(t *testing.T, logs *syncBuffer, want string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(logs.String(), want) < n {
		if time.Now().After(deadline) {
			t.Fatalf("the server never logged %q %d times:\n%s", want, n, logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRoleRemoveReachesARunningServersSignIns: `role remove` run against
// the store of a server that is serving (another process, as an operator
// runs it) takes the role from the connection that maps a group to it,
// and the serving server's next sign-in through that connection does not
// give it back, though it built the connection from the configuration
// that still mapped it. Once the server has reloaded its connections (its
// background picks up the change), a role created again under the name is
// not given either: nothing maps a group to it any more.
func TestRoleRemoveReachesARunningServersSignIns(t *testing.T) {
	idp := newSigningIdP(t, "Sales")
	data := t.TempDir()
	tenant := corpTenant(t, idp.srv.URL)
	gatehouse := func(args ...string) string { t.Helper(); return runGatehouse(t, data, args...) }
	gatehouse("apply", "-f", tenant)

	var logs syncBuffer
	s, base, cancel, done := start(t, server.Options{Store: server.StoreOptions{DataDir: data},
		Logger:             slog.New(slog.NewTextHandler(&logs, nil)),
		Getenv:             func(k string) string { return map[string]string{"CORP_SECRET": "corp-client-secret"}[k] },
		BackgroundInterval: 20 * time.Millisecond})
	defer func() { cancel(); <-done }()
	ctx := context.Background()
	roles := func() []string {
		t.Helper()
		u, err := s.Store.Users().Get(ctx, "corp:u1")
		if err != nil {
			t.Fatal(err)
		}
		return u.Roles
	}

	signInWithCorp(t, base)
	if got := roles(); !slices.Equal(got, []string{"sales", "staff"}) {
		t.Fatalf("first sign-in: roles %v, want [sales staff]", got)
	}
	reloads := strings.Count(logs.String(), "federation connections reloaded")

	if out := gatehouse("role", "remove", "sales"); !strings.Contains(out, "- role sales (taken from user corp:u1, connection corp)") {
		t.Errorf("role remove said %q", out)
	}
	// At once, reloaded or not: the server does not give the role back.
	signInWithCorp(t, base)
	if got := roles(); slices.Contains(got, "sales") {
		t.Errorf("a sign-in right after role remove: roles %v, sales given back", got)
	}

	waitForLog(t, &logs, "federation connections reloaded", reloads+1)
	gatehouse("role", "add", "sales")
	signInWithCorp(t, base)
	if got := roles(); !slices.Equal(got, []string{"staff"}) {
		t.Errorf("a sign-in once sales was created again: roles %v, want [staff]", got)
	}
	if l := logs.String(); strings.Contains(l, "corp-client-secret") || strings.Contains(l, "upstream-access-token") {
		t.Errorf("the log holds the connection's secret or the upstream's token:\n%s", l)
	}
}

// TestFederatedRolesAreTheTenantsNow: a federated sign-in gives the roles
// the tenant maps when it signs in, read under the tenant's lock, not
// those of the connections the server built at start and has not
// reloaded since (its background is slow here): a role removed and
// created again under its name is not given, and a connection removed
// from the tenant signs nobody in, though the server still shows it.
func TestFederatedRolesAreTheTenantsNow(t *testing.T) {
	idp := newSigningIdP(t, "Sales")
	data := t.TempDir()
	runGatehouse(t, data, "apply", "-f", corpTenant(t, idp.srv.URL))
	s, base, cancel, done := start(t, server.Options{Store: server.StoreOptions{DataDir: data},
		Getenv:             func(k string) string { return map[string]string{"CORP_SECRET": "corp-client-secret"}[k] },
		BackgroundInterval: time.Hour})
	defer func() { cancel(); <-done }()
	roles := func() []string {
		t.Helper()
		u, err := s.Store.Users().Get(context.Background(), "corp:u1")
		if err != nil {
			t.Fatal(err)
		}
		return u.Roles
	}
	signInWithCorp(t, base)
	if got := roles(); !slices.Equal(got, []string{"sales", "staff"}) {
		t.Fatalf("first sign-in: roles %v, want [sales staff]", got)
	}
	runGatehouse(t, data, "role", "remove", "sales")
	runGatehouse(t, data, "role", "add", "sales")
	signInWithCorp(t, base)
	if got := roles(); !slices.Equal(got, []string{"staff"}) {
		t.Errorf("a sign-in once sales was removed and created again: roles %v, want [staff]", got)
	}

	runGatehouse(t, data, "apply", "--prune", "-f", corpTenant(t, ""))
	if _, page, _ := get(t, base+"/login"); !strings.Contains(page, "Corp SSO") {
		t.Fatalf("the server reloaded its connections within the hour")
	}
	resp, page := tryCorp(t, base)
	if resp.StatusCode != http.StatusForbidden || strings.HasPrefix(resp.Request.URL.String(), base+"/signed-in") {
		t.Errorf("a sign-in through a connection removed from the tenant: %d at %s\n%s", resp.StatusCode, resp.Request.URL, page)
	}
}

// TestConnectionsReloadKeepsThoseInUseWhenOneCannotBeBuilt: a connection
// added to the tenant of a serving server whose secret's variable is
// empty in the server's environment cannot be built: the server logs why
// (naming the connection, not the variable) and serves the connections it
// had until it can, where a start would fail.
func TestConnectionsReloadKeepsThoseInUseWhenOneCannotBeBuilt(t *testing.T) {
	idp := newSigningIdP(t, "Sales")
	data := t.TempDir()
	file := func(extra string) string {
		p := filepath.Join(t.TempDir(), "acme.yaml")
		if err := os.WriteFile(p, []byte(`tenant: acme
connections:
  - name: corp
    display_name: Corp SSO
    issuer: `+idp.srv.URL+`
    client_id: gatehouse-at-corp
    client_secret_env: CORP_SECRET
`+extra), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	gatehouse := func(args ...string) { t.Helper(); runGatehouse(t, data, args...) }
	gatehouse("apply", "-f", file(""))
	var logs syncBuffer
	_, base, cancel, done := start(t, server.Options{Store: server.StoreOptions{DataDir: data},
		Logger:             slog.New(slog.NewTextHandler(&logs, nil)),
		Getenv:             func(k string) string { return map[string]string{"CORP_SECRET": "corp-client-secret"}[k] },
		BackgroundInterval: 20 * time.Millisecond})
	defer func() { cancel(); <-done }()

	gatehouse("apply", "-f", file(`  - name: partner
    display_name: Partner SSO
    issuer: https://partner.example
    client_id: gatehouse
    client_secret_env: PARTNER_SECRET
`))
	waitForLog(t, &logs, "connection partner: client_secret_env", 2) // failed, and tried again
	if l := logs.String(); !strings.Contains(l, "reload federation connections") || strings.Contains(l, "PARTNER_SECRET") {
		t.Errorf("the reload's error:\n%s", l)
	}
	_, page, _ := get(t, base+"/login")
	if !strings.Contains(page, "Corp SSO") || strings.Contains(page, "Partner SSO") {
		t.Errorf("the login page while partner cannot be built:\n%s", page)
	}
	signInWithCorp(t, base)
}

// TestFederatedRolesGoWhenTheTenantNoLongerMapsThem: a tenant file applied
// without the connection's roles_claim (and role_map) takes the role the
// mapping gave from the person at their next sign-in through it; the
// default role of their first sign-in stays.
func TestFederatedRolesGoWhenTheTenantNoLongerMapsThem(t *testing.T) {
	idp := newSigningIdP(t, "Sales")
	data := t.TempDir()
	runGatehouse(t, data, "apply", "-f", corpTenant(t, idp.srv.URL))
	s, base, cancel, done := start(t, server.Options{Store: server.StoreOptions{DataDir: data},
		Getenv:             func(k string) string { return map[string]string{"CORP_SECRET": "corp-client-secret"}[k] },
		BackgroundInterval: time.Hour})
	defer func() { cancel(); <-done }()
	signInWithCorp(t, base)
	doc, err := os.ReadFile(corpTenant(t, idp.srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	unmapped := strings.Replace(string(doc), "    roles_claim: groups\n    role_map: {Sales: [sales]}\n", "", 1)
	p := filepath.Join(t.TempDir(), "acme.yaml")
	if err := os.WriteFile(p, []byte(unmapped), 0o600); err != nil {
		t.Fatal(err)
	}
	runGatehouse(t, data, "apply", "-f", p)
	signInWithCorp(t, base)
	if u, err := s.Store.Users().Get(context.Background(), "corp:u1"); err != nil || !slices.Equal(u.Roles, []string{"staff"}) {
		t.Errorf("a sign-in once the tenant no longer maps roles: %+v %v, want roles [staff]", u, err)
	}
}
