package identity

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/password"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/sqldb"
	"github.com/gatehouse/gatehouse/internal/store/sqlite"
)

// cheap argon2id parameters keep the tests fast; Verify reads them from the hash.
var cheap = password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func hash(t testing.TB, s string) string {
	t.Helper()
	h, err := password.HashWith(s, cheap)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// recorder is an audit.Recorder that keeps events in memory and can be
// made to fail.
type recorder struct {
	mu     sync.Mutex
	events []audit.Event
	fail   bool
}

func (r *recorder) Record(_ context.Context, e audit.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail {
		return errors.New("disk full")
	}
	r.events = append(r.events, e)
	return nil
}

func (r *recorder) types() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		out = append(out, e.Type)
	}
	return out
}

func (r *recorder) last(typ string) (audit.Event, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.events) - 1; i >= 0; i-- {
		if r.events[i].Type == typ {
			return r.events[i], true
		}
	}
	return audit.Event{}, false
}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// harness is a provider on a real SQLite store behind a real HTTP server.
type harness struct {
	t     testing.TB
	p     *Provider
	db    *sqldb.DB
	mux   *http.ServeMux // the server's routes: the provider's, and any a test adds
	srv   *httptest.Server
	audit *recorder
	clock *clock
}

const (
	webRedirect    = "http://127.0.0.1:9000/cb"
	nativeRedirect = "http://127.0.0.1/callback"
	agentRedirect  = "https://agent.example/cb"
	pw             = "correct horse"
)

func newHarness(t testing.TB, opts ...func(*Provider)) *harness {
	t.Helper()
	// The store stamps records (a client's or person's creation) on the
	// harness's clock, as a server's store does on the server's.
	clk := &clock{t: time.Now()}
	db := openStoreAt(t, clk.Now)
	ctx := context.Background()
	master := make([]byte, 32)
	sealer, err := keys.NewSealer(master)
	if err != nil {
		t.Fatal(err)
	}
	km, err := keys.Open(ctx, db, sealer, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []store.User{
		{Username: "alice", Email: "alice@acme.example", PasswordHash: hash(t, pw), Roles: []string{"admin"}},
		{Username: "bob", PasswordHash: hash(t, pw)},
		{Username: "carol", PasswordHash: hash(t, pw), Disabled: true},
	} {
		if err := db.Users().Create(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []store.Client{
		{ClientID: "web", Name: "Web App", Kind: store.KindWeb, SecretHash: hash(t, "web-secret"), FirstParty: true,
			RedirectURIs: []string{webRedirect, "https://app.example/cb?x=1"}, PostLogoutRedirectURIs: []string{"https://app.example/bye"}},
		{ClientID: "native", Name: "Native App", Kind: store.KindNative, RedirectURIs: []string{nativeRedirect}},
		{ClientID: "billing", Kind: store.KindService, SecretHash: hash(t, "billing-secret")},
		{ClientID: "agent", Name: "Assistant", Kind: store.KindAgent, SecretHash: hash(t, "agent-secret"),
			RedirectURIs: []string{agentRedirect}},
	} {
		c.Source = store.SourceTenant
		if err := db.Clients().Create(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	h := &harness{t: t, db: db, audit: &recorder{}, clock: clk}
	mux := http.NewServeMux()
	h.mux = mux
	h.srv = httptest.NewServer(mux)
	t.Cleanup(h.srv.Close)
	h.p = &Provider{Issuer: h.srv.URL, Store: db, Keys: km, Audit: h.audit, Now: h.clock.Now,
		Resources: []string{"https://api.example/"}, Scopes: []string{"tools"}, PasswordParams: &cheap}
	for _, o := range opts {
		o(h.p)
	}
	h.p.Mount(mux)
	return h
}

// openBackend, when set, opens the store instead of SQLite (the
// PostgreSQL runs set it).
var openBackend func(t testing.TB) *sqldb.DB

// openStoreAt opens the harness's store: SQLite with the clock now, or
// openBackend's, which keeps its own.
func openStoreAt(t testing.TB, now func() time.Time) *sqldb.DB {
	t.Helper()
	if openBackend != nil {
		return openBackend(t)
	}
	db, err := sqlite.Open(context.Background(), t.TempDir(), &sqldb.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// browser is an HTTP client with cookies that does not follow redirects.
func (h *harness) browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
}

func (h *harness) url(path string) string { return h.srv.URL + path }

// recreateClient removes the client id and creates it again as it was,
// dated two minutes on in the store (past accesstoken.CreationMargin) as
// if it came later, and lets the provider's client cache forget the old
// one.
func (h *harness) recreateClient(id string) {
	h.t.Helper()
	ctx := h.t.Context()
	c, err := h.db.Clients().Get(ctx, id)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := h.db.Clients().Delete(ctx, id); err != nil {
		h.t.Fatal(err)
	}
	if err := h.db.Clients().Create(ctx, c); err != nil {
		h.t.Fatal(err)
	}
	if _, err := h.db.SQL().Exec(h.db.Rebind("UPDATE clients SET created_at = ? WHERE name = ?"),
		h.clock.Now().Add(2*time.Minute).UnixMicro(), id); err != nil {
		h.t.Fatal(err)
	}
	h.clock.Advance(2 * time.Second) // past the provider's client cache
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func body(t testing.TB, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func csrfOf(t testing.TB, html string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(html)
	if m == nil {
		t.Fatalf("no csrf field in:\n%s", html)
	}
	return m[1]
}

// login signs in on b and returns the response to the POST.
func (h *harness) login(b *http.Client, user, pass string, extra url.Values) *http.Response {
	h.t.Helper()
	q := ""
	if extra != nil {
		q = "?" + extra.Encode()
	}
	resp, err := b.Get(h.url("/login" + q))
	if err != nil {
		h.t.Fatal(err)
	}
	csrf := csrfOf(h.t, body(h.t, resp))
	f := url.Values{"username": {user}, "password": {pass}, "csrf": {csrf}}
	for k, v := range extra {
		f[k] = v
	}
	resp, err = b.PostForm(h.url("/login"), f)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp
}

// signedIn returns a browser with alice's session.
func (h *harness) signedIn(user string) *http.Client {
	h.t.Helper()
	b := h.browser()
	resp := h.login(b, user, pw, nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		h.t.Fatalf("login: %d", resp.StatusCode)
	}
	return b
}

const verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"

var challenge = s256(verifier)

// authParams is a good authorization request of the web client.
func authParams(extra ...string) url.Values {
	v := url.Values{"client_id": {"web"}, "redirect_uri": {webRedirect}, "response_type": {"code"},
		"state": {"st-1"}, "nonce": {"n-1"}, "scope": {"openid profile email"},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"}}
	for i := 0; i+1 < len(extra); i += 2 {
		if extra[i+1] == "" {
			v.Del(extra[i])
		} else {
			v.Set(extra[i], extra[i+1])
		}
	}
	return v
}

// authorize sends the authorization request and returns the response.
func (h *harness) authorize(b *http.Client, v url.Values) *http.Response {
	h.t.Helper()
	resp, err := b.Get(h.url("/authorize?" + v.Encode()))
	if err != nil {
		h.t.Fatal(err)
	}
	return resp
}

// code runs the authorization request and returns the code it redirects with.
func (h *harness) code(b *http.Client, v url.Values) string {
	h.t.Helper()
	resp := h.authorize(b, v)
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther {
		h.t.Fatalf("authorize: %d %s", resp.StatusCode, loc)
	}
	u, _ := url.Parse(loc)
	c := u.Query().Get("code")
	if c == "" {
		h.t.Fatalf("authorize: no code in %s", loc)
	}
	return c
}

type tokenResult struct {
	Status  int
	Header  http.Header
	JSON    map[string]any
	Error   string
	Access  string
	Refresh string
	ID      string
}

// token posts to the token endpoint, with HTTP Basic when secret is set.
func (h *harness) token(clientID, secret string, f url.Values) tokenResult {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.url("/token"), strings.NewReader(f.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if secret != "" {
		req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
	} else if clientID != "" && !f.Has("client_id") {
		f.Set("client_id", clientID)
		req, _ = http.NewRequest(http.MethodPost, h.url("/token"), strings.NewReader(f.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return h.do(req)
}

func (h *harness) do(req *http.Request) tokenResult {
	h.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	b := body(h.t, resp)
	r := tokenResult{Status: resp.StatusCode, Header: resp.Header, JSON: map[string]any{}}
	if b != "" {
		if err := json.Unmarshal([]byte(b), &r.JSON); err != nil {
			h.t.Fatalf("%s: not JSON: %q", req.URL.Path, b)
		}
	}
	r.Error, _ = r.JSON["error"].(string)
	r.Access, _ = r.JSON["access_token"].(string)
	r.Refresh, _ = r.JSON["refresh_token"].(string)
	r.ID, _ = r.JSON["id_token"].(string)
	return r
}

func (h *harness) post(path, clientID, secret string, f url.Values) tokenResult {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.url(path), strings.NewReader(f.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if secret != "" {
		req.SetBasicAuth(clientID, secret)
	}
	return h.do(req)
}

// redeem exchanges a code of the web client.
func (h *harness) redeem(code string, extra ...string) tokenResult {
	h.t.Helper()
	f := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier},
		"redirect_uri": {webRedirect}}
	for i := 0; i+1 < len(extra); i += 2 {
		if extra[i+1] == "" {
			f.Del(extra[i])
		} else {
			f.Set(extra[i], extra[i+1])
		}
	}
	return h.token("web", "web-secret", f)
}

// userTokens runs the whole code flow for alice on the web client.
func (h *harness) userTokens(extra ...string) tokenResult {
	h.t.Helper()
	b := h.signedIn("alice")
	r := h.redeem(h.code(b, authParams(extra...)))
	if r.Status != http.StatusOK {
		h.t.Fatalf("redeem: %d %v", r.Status, r.JSON)
	}
	return r
}

// claims decodes a JWT's payload without verifying it.
func claims(t testing.TB, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", jwt)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func header(t testing.TB, jwt string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(jwt, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// redirectQuery returns the query of a 303's Location, failing otherwise.
func redirectQuery(t testing.TB, resp *http.Response, prefix string) url.Values {
	t.Helper()
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, prefix) {
		t.Fatalf("want a 303 to %s, got %d %q", prefix, resp.StatusCode, loc)
	}
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}

var jsonMarshal = json.Marshal

// durableAudit makes the provider record into the real audit log on the
// harness's store (secret-looking Detail keys redacted, as a deployment
// keeps them), and returns it to query.
func (h *harness) durableAudit() *audit.Log {
	h.t.Helper()
	l := audit.New(h.db, h.p.Keys, &audit.Options{CheckpointInterval: -1})
	h.t.Cleanup(func() { l.Close() })
	h.p.Audit = l
	return l
}

// stored returns the events of type typ in l, oldest first.
func stored(t testing.TB, l *audit.Log, typ string) []audit.Entry {
	t.Helper()
	p, err := l.Query(t.Context(), audit.Filter{Types: []string{typ}})
	if err != nil {
		t.Fatal(err)
	}
	return p.Entries
}
