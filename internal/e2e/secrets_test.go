package e2e_test

// TestNoSecretLeaks: one scenario uses every kind of secret Gatehouse
// handles — passwords (a wrong one too), client secrets, an authorization
// code and its verifier, access, refresh and ID tokens, tokens from client
// credentials and token exchange, permission slips, the login session
// cookie, the master key and the signing keys — and then every place that
// outlives a request is searched for each of them: the raw bytes of every
// file of the data folder (while serving and after shutdown), the
// application log (JSON, debug level), `gatehouse audit export` and its
// terminal rendering (audit.Line), and every error body the scenario got.
// A hit names the secret's kind and the first 4 characters only.
//
// It also checks that CR/LF, ANSI escapes and markup in a username are
// data everywhere: no forged log line, no raw control character in the
// log, the export or audit.Line, no markup echoed raw into the login page.

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/cli"
	"github.com/gatehouse/gatehouse/internal/e2e"
	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/server"
)

// secBuffer is a concurrency-safe log sink.
type secBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *secBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *secBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}

// secBearer adds a bearer token to every request.
type secBearer struct {
	token string
	base  http.RoundTripper
}

func (b secBearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	base := b.base
	if base == nil {
		base = http.DefaultTransport
	}
	return base.RoundTrip(r)
}

// secMCP connects the official Go MCP SDK client to endpoint with a bearer
// token (no OAuth dance, no retries, no standalone stream).
func secMCP(ctx context.Context, endpoint, token string, base http.RoundTripper) (*mcp.ClientSession, error) {
	client := mcp.NewClient(&mcp.Implementation{Name: "gatehouse-e2e-bearer", Version: "1.0.0"}, nil)
	return client.Connect(ctx, &mcp.StreamableClientTransport{
		Endpoint:             endpoint,
		HTTPClient:           &http.Client{Transport: secBearer{token: token, base: base}, Timeout: 20 * time.Second},
		MaxRetries:           -1,
		DisableStandaloneSSE: true,
	}, nil)
}

// secSecret is one secret the scenario used, by kind.
type secSecret struct {
	kind  string
	value []byte
}

// secSecrets is every secret of the scenario.
type secSecrets struct {
	mu   sync.Mutex
	list []secSecret
}

// add keeps a secret; an empty or short value means the scenario did not
// get what it should have (or the search would hit by chance).
func (s *secSecrets) add(t *testing.T, kind string, value []byte) {
	t.Helper()
	if len(value) < 8 {
		t.Errorf("secret %s: %d bytes, too short to search for (did the scenario get it?)", kind, len(value))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.list = append(s.list, secSecret{kind: kind, value: bytes.Clone(value)})
}

func (s *secSecrets) str(t *testing.T, kind, value string) { t.Helper(); s.add(t, kind, []byte(value)) }

// token keeps a token and, for a JWS, its signature on its own: the
// signature alone is enough to tell a leak (the header and the payload
// are not secret).
func (s *secSecrets) token(t *testing.T, kind, value string) {
	t.Helper()
	s.str(t, kind, value)
	if parts := strings.Split(value, "."); len(parts) == 3 {
		s.str(t, kind+" (signature)", parts[2])
	}
}

// basic keeps the HTTP Basic credentials of a client as a header carries
// them: a logged Authorization header is a leaked secret.
func (s *secSecrets) basic(t *testing.T, kind, id, secret string) {
	t.Helper()
	s.str(t, kind, secret)
	s.str(t, kind+" (Basic header)", base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret))))
}

func (s *secSecrets) all() []secSecret {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]secSecret(nil), s.list...)
}

func secPrefix(v []byte) string {
	if len(v) > 4 {
		v = v[:4]
	}
	return fmt.Sprintf("%q…", v)
}

// search fails the test for every secret found in data.
func (s *secSecrets) search(t *testing.T, where string, data []byte) int {
	t.Helper()
	hits := 0
	for _, sec := range s.all() {
		if i := bytes.Index(data, sec.value); i >= 0 {
			hits++
			t.Errorf("LEAK: %s (%s) found in %s at byte %d%s", sec.kind, secPrefix(sec.value), where, i, s.context(data, i, len(sec.value)))
		}
	}
	return hits
}

// context shows a little of what surrounds a hit at i, every known
// secret in it (the hit too) masked, so a failure says which field leaked
// and never prints a secret.
func (s *secSecrets) context(data []byte, i, n int) string {
	from, to := max(0, i-60), min(len(data), i+n+40)
	all := s.all()
	longest := 0
	for _, sec := range all {
		longest = max(longest, len(sec.value))
	}
	// Occurrences that overlap the window, even partly, are masked.
	lo, hi := max(0, from-longest), min(len(data), to+longest)
	masked := make([]bool, to-from)
	for _, sec := range all {
		for off := lo; off < hi; {
			j := bytes.Index(data[off:hi], sec.value)
			if j < 0 {
				break
			}
			start := off + j
			for k := max(start, from); k < min(start+len(sec.value), to); k++ {
				masked[k-from] = true
			}
			off = start + 1
		}
	}
	var b strings.Builder
	for k := from; k < to; k++ {
		if masked[k-from] {
			if k == from || !masked[k-from-1] {
				b.WriteString("<SECRET>")
			}
			continue
		}
		b.WriteByte(data[k])
	}
	return fmt.Sprintf(": …%q…", b.String())
}

// secErrorBodies are the bodies of the error answers the scenario got.
type secErrorBodies struct {
	mu   sync.Mutex
	list []struct {
		what string
		body []byte
	}
}

func (e *secErrorBodies) add(what string, body []byte) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.list = append(e.list, struct {
		what string
		body []byte
	}{what, bytes.Clone(body)})
}

// secForm posts a form, with HTTP Basic when user is set, and keeps the
// body of an error answer (or of any answer when keep is set).
func secForm(t *testing.T, bodies *secErrorBodies, what, endpoint, user, pass string, form url.Values, keep bool) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 400 || keep {
		bodies.add(fmt.Sprintf("%s (%d)", what, resp.StatusCode), body)
	}
	return resp.StatusCode, body
}

// secJSON decodes a token endpoint answer, failing on anything but 200.
func secJSON(t *testing.T, what string, status int, body []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if status != http.StatusOK || json.Unmarshal(body, &m) != nil {
		t.Fatalf("%s: %d %.300s", what, status, body)
	}
	return m
}

func secStr(m map[string]any, k string) string { s, _ := m[k].(string); return s }

// secBearerStatus sends a request with a bearer token and keeps an error
// answer's body.
func secBearerStatus(t *testing.T, bodies *secErrorBodies, what, method, target, token, body string) int {
	t.Helper()
	req, _ := http.NewRequest(method, target, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 400 {
		bodies.add(fmt.Sprintf("%s (%d)", what, resp.StatusCode), append([]byte(resp.Header.Get("WWW-Authenticate")+"\n"), b...))
	}
	return resp.StatusCode
}

// secEvilUser is a username that tries to forge a log line, colour a
// terminal and inject markup.
const secEvilUser = "evil\r\nINFO forged line level=INFO\x1b[31mred\x1b[0m<script>alert(1)</script>"

func TestNoSecretLeaks(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()

	var (
		password      = "pw-" + rand.Text()
		wrongPassword = "wrong-pw-" + rand.Text()
		webSecret     = "web-" + rand.Text() + rand.Text()
		serviceSecret = "svc-" + rand.Text() + rand.Text()
		agentSecret   = "agent-" + rand.Text() + rand.Text()
		wrongSecret   = "wrong-secret-" + rand.Text()
	)
	secrets := &secSecrets{}
	bodies := &secErrorBodies{}
	secrets.str(t, "password", password)
	secrets.str(t, "wrong password", wrongPassword)
	secrets.basic(t, "client secret of acme-web", oidcWebClient, webSecret)
	secrets.basic(t, "client secret of billing-api", oidcServiceClient, serviceSecret)
	secrets.basic(t, "client secret of acme-agent", oidcAgentClient, agentSecret)
	secrets.basic(t, "wrong client secret", oidcWebClient, wrongSecret)

	// The HTTP tool: it records the slip it gets and redeems it by
	// introspection as billing-api, as a real tool would.
	var (
		introspectURL atomic.Pointer[string]
		slipMu        sync.Mutex
		slips         []string
	)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		args, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		ep := introspectURL.Load()
		if !ok || ep == nil {
			http.Error(w, "no slip", http.StatusUnauthorized)
			return
		}
		slipMu.Lock()
		slips = append(slips, tok)
		slipMu.Unlock()
		req, _ := http.NewRequestWithContext(r.Context(), http.MethodPost, *ep, strings.NewReader(url.Values{"token": {tok}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(oidcServiceClient, serviceSecret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, "introspection failed", http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		bodies.add(fmt.Sprintf("introspection answer to the tool (%d)", resp.StatusCode), raw)
		var ans struct {
			Active bool `json:"active"`
		}
		if json.Unmarshal(raw, &ans) != nil || !ans.Active {
			http.Error(w, "permission slip refused", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"refunded":true,"args":%s}`, args)
	}))
	defer backend.Close()

	tenant := fmt.Sprintf(`
tenant: acme
roles:
  - name: sales-manager
users:
  - username: alice
    email: alice@acme.example
    password: %q
    roles: [sales-manager]
clients:
  - client_id: acme-web
    kind: web
    secret: %q
    redirect_uris: ["http://127.0.0.1:9000/callback"]
    first_party: true
  - client_id: billing-api
    kind: service
    secret: %q
  - client_id: acme-agent
    kind: agent
    secret: %q
    redirect_uris: ["http://127.0.0.1:9001/callback"]
tools:
  - name: sales_report
    builtin: sales_report
    roles: [sales-manager]
  - name: refund
    http: {method: POST, url: %q, client_id: billing-api}
    input_schema: {type: object, properties: {amount: {type: number}}, required: [amount]}
    roles: [sales-manager]
`, password, webSecret, serviceSecret, agentSecret, backend.URL)

	logs := &secBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	// After the server stopped (the cleanups run last in, first out: this
	// one runs after Start's shutdown and before the data folder is
	// removed), the folder and the log are searched again: the WAL is
	// checkpointed into the database by then, and shutdown logs too.
	t.TempDir()
	var data string
	t.Cleanup(func() {
		if data == "" {
			return
		}
		secSearchDir(t, secrets, data, "after shutdown")
		secrets.search(t, "the application log (after shutdown)", logs.Bytes())
	})
	gh := e2e.Start(t, tenant, &e2e.Options{Tweak: func(o *server.Options) { o.Logger = logger }})
	data = gh.Data

	d := oidcDiscover(t, gh)
	var meta struct {
		Introspection string `json:"introspection_endpoint"`
		Revocation    string `json:"revocation_endpoint"`
	}
	{
		resp, err := http.Get(gh.URL + "/.well-known/openid-configuration")
		if err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(resp.Body).Decode(&meta)
		resp.Body.Close()
		if err != nil || meta.Introspection == "" || meta.Revocation == "" {
			t.Fatalf("discovery: introspection %q revocation %q: %v", meta.Introspection, meta.Revocation, err)
		}
	}
	introspectURL.Store(&meta.Introspection)

	// 1. A wrong password, an evil username, then the right password,
	// in one browser, with PKCE.
	b := newOIDCBrowser(t)
	verifier, challenge := oidcPKCE()
	secrets.str(t, "code_verifier", verifier)
	start := oidcAuthURL(d, map[string]string{"code_challenge": challenge})
	p := b.do(t, http.MethodGet, start, nil)
	login := p.location
	if login == "" {
		t.Fatalf("authorization request signed out: %d, want a redirect to the login page", p.status)
	}
	p = b.do(t, http.MethodGet, login, nil)
	action, f := p.form(t, login)
	f.Set("username", oidcUser)
	f.Set("password", wrongPassword)
	p = b.do(t, http.MethodPost, action, f)
	if p.location != "" || !strings.Contains(p.body, `name="password"`) {
		t.Fatalf("wrong password: %d %q, want the form again", p.status, p.location)
	}
	bodies.add("login page after a wrong password", []byte(p.body))
	f.Set("username", secEvilUser)
	p = b.do(t, http.MethodPost, action, f)
	if p.location != "" {
		t.Fatalf("evil username: %d %q, want the form again", p.status, p.location)
	}
	bodies.add("login page after the evil username", []byte(p.body))
	if strings.Contains(p.body, "<script>alert(1)</script>") {
		t.Errorf("the login page echoes the username's markup raw")
	}
	cb := b.signIn(t, start, oidcWebRedirect, oidcUser, password)
	code := cb.Query().Get("code")
	secrets.str(t, "authorization code", code)
	issuer, _ := url.Parse(gh.URL)
	for _, c := range b.c.Jar.Cookies(issuer) {
		if len(c.Value) >= 16 {
			secrets.str(t, "cookie "+c.Name, c.Value)
		}
	}

	// 2. The code: a wrong verifier first (refused, the code not burnt),
	// then the right one.
	wrongVerifier, _ := oidcPKCE()
	secrets.str(t, "wrong code_verifier", wrongVerifier)
	codeForm := func(v string) url.Values {
		return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {oidcWebRedirect}, "code_verifier": {v}}
	}
	if s, _ := secForm(t, bodies, "code with a wrong verifier", d.TokenEndpoint, oidcWebClient, webSecret, codeForm(wrongVerifier), false); s != 400 {
		t.Errorf("code with a wrong verifier: %d, want 400", s)
	}
	s, body := secForm(t, bodies, "code", d.TokenEndpoint, oidcWebClient, webSecret, codeForm(verifier), false)
	tok1 := secJSON(t, "code", s, body)
	secrets.token(t, "access token (code)", secStr(tok1, "access_token"))
	secrets.token(t, "refresh token (code)", secStr(tok1, "refresh_token"))
	secrets.token(t, "ID token (code)", secStr(tok1, "id_token"))

	// 3. A wrong client secret, then a refresh.
	refreshForm := func(rt string) url.Values {
		return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
	}
	if s, _ := secForm(t, bodies, "refresh with a wrong client secret", d.TokenEndpoint, oidcWebClient, wrongSecret,
		refreshForm(secStr(tok1, "refresh_token")), false); s != 401 {
		t.Errorf("wrong client secret: %d, want 401", s)
	}
	s, body = secForm(t, bodies, "refresh", d.TokenEndpoint, oidcWebClient, webSecret, refreshForm(secStr(tok1, "refresh_token")), false)
	tok2 := secJSON(t, "refresh", s, body)
	secrets.token(t, "access token (refresh)", secStr(tok2, "access_token"))
	secrets.token(t, "refresh token (refresh)", secStr(tok2, "refresh_token"))
	if id := secStr(tok2, "id_token"); id != "" {
		secrets.token(t, "ID token (refresh)", id)
	}

	// 4. Client credentials and token exchange (alice first lets the agent
	// act for her: she consents as she signs in through it).
	agentRedirect := "http://127.0.0.1:9001/callback"
	_, agentChallenge := oidcPKCE()
	acb := b.signIn(t, oidcAuthURL(d, map[string]string{"client_id": oidcAgentClient, "redirect_uri": agentRedirect,
		"code_challenge": agentChallenge}), agentRedirect, oidcUser, password)
	secrets.str(t, "authorization code (agent)", acb.Query().Get("code"))
	s, body = secForm(t, bodies, "client_credentials", d.TokenEndpoint, oidcServiceClient, serviceSecret,
		url.Values{"grant_type": {"client_credentials"}}, false)
	secrets.token(t, "access token (client_credentials)", secStr(secJSON(t, "client_credentials", s, body), "access_token"))
	s, body = secForm(t, bodies, "token exchange", d.TokenEndpoint, oidcAgentClient, agentSecret, url.Values{
		"grant_type":         {"urn:ietf:params:oauth:grant-type:token-exchange"},
		"subject_token":      {secStr(tok2, "access_token")},
		"subject_token_type": {"urn:ietf:params:oauth:token-type:access_token"},
	}, false)
	exchanged := secStr(secJSON(t, "token exchange", s, body), "access_token")
	secrets.token(t, "access token (token exchange)", exchanged)

	// 5. MCP: the built-in tool and the HTTP tool, as the web client for
	// alice and as the agent acting for her.
	for _, who := range []struct{ name, token, amount string }{
		{"acme-web for alice", secStr(tok2, "access_token"), "12"},
		{"acme-agent for alice", exchanged, "7"},
	} {
		cs, err := secMCP(ctx, gh.URL+"/mcp", who.token, nil)
		if err != nil {
			t.Fatalf("MCP as %s: %v", who.name, err)
		}
		for _, call := range []struct{ tool, args string }{
			{"sales_report", mcpMonth},
			{"refund", `{"amount":` + who.amount + `}`},
		} {
			res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: call.tool, Arguments: json.RawMessage(call.args)})
			if err != nil {
				t.Fatalf("MCP as %s: %s: %v", who.name, call.tool, err)
			}
			if res.IsError {
				bodies.add("tool error of "+call.tool, []byte(mcpText(res)))
				t.Errorf("MCP as %s: %s answered an error: %.300s", who.name, call.tool, mcpText(res))
			}
		}
		cs.Close()
	}
	slipMu.Lock()
	got := append([]string(nil), slips...)
	slipMu.Unlock()
	if len(got) != 2 {
		t.Fatalf("the HTTP tool got %d slips, want 2", len(got))
	}
	for i, sl := range got {
		secrets.token(t, fmt.Sprintf("permission slip #%d", i+1), sl)
	}

	// 6. Replays and misuse: the slip again (introspection and the tool),
	// the slip as an access token, the code again, the first refresh
	// token again (reuse), and a revoked refresh token.
	s, body = secForm(t, bodies, "slip replay (introspection)", meta.Introspection, oidcServiceClient, serviceSecret,
		url.Values{"token": {got[0]}}, true)
	if s != 200 || !strings.Contains(string(body), `"active":false`) {
		t.Errorf("slip replay at introspection: %d %s, want active false", s, body)
	}
	if st := secBearerStatus(t, bodies, "slip replay at the tool", http.MethodPost, backend.URL, got[1], `{"amount":7}`); st != 401 {
		t.Errorf("slip replay at the tool: %d, want 401", st)
	}
	if st := secBearerStatus(t, bodies, "slip as an access token at /mcp", http.MethodPost, gh.URL+"/mcp", got[0],
		`{"jsonrpc":"2.0","id":1,"method":"ping"}`); st != 401 {
		t.Errorf("a slip as the bearer at /mcp: %d, want 401", st)
	}
	if st := secBearerStatus(t, bodies, "a made-up token at userinfo", http.MethodGet, d.UserinfoEndpoint,
		"not-a-token-"+rand.Text(), ""); st != 401 {
		t.Errorf("garbage at userinfo: %d, want 401", st)
	}
	if s, _ := secForm(t, bodies, "revocation", meta.Revocation, oidcWebClient, webSecret,
		url.Values{"token": {secStr(tok2, "refresh_token")}, "token_type_hint": {"refresh_token"}}, true); s != 200 {
		t.Errorf("revocation: %d, want 200", s)
	}
	if s, _ := secForm(t, bodies, "revoked refresh token", d.TokenEndpoint, oidcWebClient, webSecret,
		refreshForm(secStr(tok2, "refresh_token")), false); s != 400 {
		t.Errorf("revoked refresh token: %d, want 400", s)
	}
	if s, _ := secForm(t, bodies, "refresh token reuse", d.TokenEndpoint, oidcWebClient, webSecret,
		refreshForm(secStr(tok1, "refresh_token")), false); s != 400 {
		t.Errorf("refresh token reuse: %d, want 400", s)
	}
	if s, _ := secForm(t, bodies, "code replay", d.TokenEndpoint, oidcWebClient, webSecret, codeForm(verifier), false); s != 400 {
		t.Errorf("code replay: %d, want 400", s)
	}
	secBearerStatus(t, bodies, "/mcp after revocation", http.MethodPost, gh.URL+"/mcp", secStr(tok2, "access_token"),
		`{"jsonrpc":"2.0","id":1,"method":"ping"}`)

	// 7. The keys: the master key file, and the signing keys' private
	// parts (unsealed with it).
	mkFile, err := os.ReadFile(filepath.Join(gh.Data, keys.MasterKeyFile))
	if err != nil {
		t.Fatalf("master key file: %v", err)
	}
	mkB64 := strings.TrimSpace(string(mkFile))
	secrets.str(t, "master key (base64)", mkB64)
	mk, err := keys.LoadMasterKey("", gh.Data)
	if err != nil {
		t.Fatal(err)
	}
	secrets.add(t, "master key (raw)", mk)
	secrets.str(t, "master key (base64url)", base64.RawURLEncoding.EncodeToString(mk))
	sealer, err := keys.NewSealer(mk)
	if err != nil {
		t.Fatal(err)
	}
	sks, err := gh.Server.Store.Keys().List(ctx)
	if err != nil || len(sks) == 0 {
		t.Fatalf("signing keys: %d %v", len(sks), err)
	}
	for _, k := range sks {
		der, err := sealer.Open(k.ID, k.Private)
		if err != nil {
			t.Fatal(err)
		}
		kind := fmt.Sprintf("signing key %s (%s) private", k.ID, k.Alg)
		secrets.add(t, kind+" PKCS#8", der)
		secrets.str(t, kind+" PKCS#8 base64", base64.StdEncoding.EncodeToString(der))
		priv, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			t.Fatal(err)
		}
		switch pk := priv.(type) {
		case ed25519.PrivateKey:
			secrets.add(t, kind+" seed", pk.Seed())
			secrets.str(t, kind+" JWK d", base64.RawURLEncoding.EncodeToString(pk.Seed()))
		case *rsa.PrivateKey:
			secrets.add(t, kind+" d", pk.D.Bytes())
			secrets.str(t, kind+" JWK d", base64.RawURLEncoding.EncodeToString(pk.D.Bytes()))
			for i, prime := range pk.Primes {
				secrets.str(t, fmt.Sprintf("%s JWK p%d", kind, i+1), base64.RawURLEncoding.EncodeToString(prime.Bytes()))
			}
		default:
			t.Errorf("%s: unexpected key type %T", kind, priv)
		}
	}
	t.Logf("searching for %d secrets", len(secrets.all()))

	// (a) The data folder, as is, while serving.
	secSearchDir(t, secrets, gh.Data, "while serving")

	// (c) gatehouse audit export, in process, on the same data folder.
	var export, stderr bytes.Buffer
	env := &cli.Env{Stdout: &export, Stderr: &stderr, Stdin: strings.NewReader(""), Getenv: func(string) string { return "" }}
	if code := cli.Run(env, []string{"audit", "export", "--data", gh.Data}); code != 0 {
		t.Fatalf("gatehouse audit export: exit %d: %s", code, stderr.String())
	}
	secrets.search(t, "gatehouse audit export", export.Bytes())
	secrets.search(t, "gatehouse audit export (stderr)", stderr.Bytes())
	var rendered strings.Builder
	var evil []audit.Entry
	types := map[string]int{}
	for i, line := range bytes.Split(bytes.TrimSpace(export.Bytes()), []byte("\n")) {
		if bytes.ContainsAny(line, "\r\x1b") {
			t.Errorf("audit export line %d holds a raw CR or ESC", i+1)
		}
		var e audit.Entry
		if err := json.Unmarshal(line, &e); err != nil {
			t.Errorf("audit export line %d: %v", i+1, err)
			continue
		}
		types[e.Event.Type]++
		l := audit.Line(e)
		if strings.ContainsAny(l, "\r\n\x1b") {
			t.Errorf("audit.Line of #%d (%s) holds a raw CR, LF or ESC: %q", e.Seq, e.Event.Type, l)
		}
		rendered.WriteString(l + "\n")
		if e.Event.Actor == secEvilUser {
			evil = append(evil, e)
		}
	}
	secrets.search(t, "audit.Line rendering", []byte(rendered.String()))
	t.Logf("audit export: %d records: %v", bytes.Count(export.Bytes(), []byte("\n")), types)
	for _, typ := range []string{audit.LoginFailed, audit.LoginSucceeded, audit.TokenIssued, audit.TokenRefreshed,
		audit.TokenExchanged, audit.TokenRevoked, audit.ToolDecided, audit.SlipMinted, audit.SlipRedeemed,
		audit.SlipReplay, audit.ToolResult} {
		if types[typ] == 0 {
			t.Errorf("the scenario left no %s record in the audit trail", typ)
		}
	}
	// The evil username is no user's: its failed sign-in is recorded
	// without it, as any unknown name is (it may be a password typed into
	// the wrong field). audit.Line's escaping of a hostile actor is
	// tested in internal/audit.
	for _, e := range evil {
		t.Errorf("an audit record keeps the unknown username as its actor: %q", audit.Line(e))
	}
	// The server's own export says the same.
	var ownExport bytes.Buffer
	if _, err := gh.Server.Audit.Export(ctx, &ownExport, audit.Filter{}); err != nil {
		t.Fatal(err)
	}
	secrets.search(t, "the server's audit export", ownExport.Bytes())

	// (b) The application log.
	logBytes := logs.Bytes()
	secrets.search(t, "the application log", logBytes)
	if bytes.ContainsAny(logBytes, "\r\x1b") {
		t.Errorf("the application log holds a raw CR or ESC")
	}
	for i, line := range bytes.Split(bytes.TrimSpace(logBytes), []byte("\n")) {
		if !json.Valid(line) {
			t.Errorf("application log line %d is not one JSON record (a forged line?): %.200q", i+1, line)
		}
		if bytes.HasPrefix(bytes.TrimSpace(line), []byte("INFO forged")) {
			t.Errorf("application log line %d is forged by the username: %.200q", i+1, line)
		}
	}
	t.Logf("application log: %d bytes, %d lines", len(logBytes), bytes.Count(logBytes, []byte("\n")))

	// (d) Every error body.
	bodies.mu.Lock()
	list := bodies.list
	bodies.mu.Unlock()
	for _, b := range list {
		secrets.search(t, "the answer to "+b.what, b.body)
	}
	t.Logf("searched %d error answers", len(list))
}

// secSearchDir searches every file of the data folder but the master key
// file itself.
func secSearchDir(t *testing.T, secrets *secSecrets, dir, when string) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(path string, de os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if de.IsDir() || de.Name() == keys.MasterKeyFile {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			if os.IsNotExist(err) { // a -shm or -wal going away
				return nil
			}
			return err
		}
		n++
		rel, _ := filepath.Rel(dir, path)
		secrets.search(t, fmt.Sprintf("data file %s (%d bytes, %s)", rel, len(b), when), b)
		return nil
	})
	if err != nil {
		t.Errorf("data folder %s: %v", when, err)
	}
	if n == 0 {
		t.Errorf("data folder %s: no file to search", when)
	}
	t.Logf("searched %d data files %s", n, when)
}
