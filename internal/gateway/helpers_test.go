package gateway_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/gateway"
	"github.com/gatehouse/gatehouse/internal/identity/accesstoken"
	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/slip"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/sqldb"
	"github.com/gatehouse/gatehouse/internal/store/storetest"
)

func TestMain(m *testing.M) {
	// The test binary doubles as a stdio upstream MCP server.
	if len(os.Args) > 1 && os.Args[1] == "-gatehouse-test-upstream" {
		runStdioUpstream()
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "-gatehouse-test-memo-upstream" {
		runMemoUpstream()
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "-gatehouse-test-lister-upstream" {
		runListerUpstream()
		return
	}
	os.Exit(m.Run())
}

// memAudit keeps events in memory, in the order Record was called.
type memAudit struct {
	mu     sync.Mutex
	events []audit.Event
}

func (m *memAudit) Record(_ context.Context, e audit.Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.events = append(m.events, e)
	return nil
}

func (m *memAudit) all() []audit.Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]audit.Event(nil), m.events...)
}

// env is a running gateway over a seeded tenant.
type env struct {
	t        testing.TB
	st       *sqldb.DB
	keys     *keys.Manager
	sealer   *keys.Sealer // the keys' master key: another process's manager of them
	gw       *gateway.Gateway
	srv      *httptest.Server
	mux      *http.ServeMux
	audit    audit.Recorder
	mem      *memAudit
	resource string
	issuer   string
	notices  sentNotices // the list_changed the gateway sent
}

type envOptions struct {
	tools     []store.Tool
	upstreams []store.Upstream
	realAudit bool // the hash-chained, durable audit log instead of memory
	origins   []string
	// revocations replaces the store's revocation list (a failing one).
	revocations gateway.Revocations
	// counters replaces the store's counters (limits.tool_calls_per_minute).
	counters gateway.Counters
	logger   *slog.Logger // the gateway's; nil discards
	// recorder, when set, wraps the trail the gateway records on (the
	// slips' minter keeps recording on the trail itself).
	recorder func(audit.Recorder) audit.Recorder
}

// seed is the tenant of most tests: alice manages sales in EMEA, bob is in
// HR, carol manages sales in AMER, dave has no role; two agents, one of
// them capped to payroll_report.
func seed(t testing.TB, st store.Store, o envOptions) {
	ctx := context.Background()
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range []store.User{
		{Username: "alice", Roles: []string{"sales-manager"}, Attributes: map[string]string{"region": "emea"}},
		{Username: "bob", Roles: []string{"hr"}},
		{Username: "carol", Roles: []string{"sales-manager", "support"}, Attributes: map[string]string{"region": "amer"}},
		{Username: "dave"},
		{Username: "erin", Roles: []string{"sales-manager"}, Disabled: true},
	} {
		must(st.Users().Create(ctx, u))
	}
	for _, c := range []store.Client{
		{ClientID: "acme-assistant", Kind: store.KindAgent},
		{ClientID: "payroll-bot", Kind: store.KindAgent, Tools: []string{"payroll_report"}},
		{ClientID: "billing-api", Kind: store.KindService, SecretHash: "x"},
	} {
		must(st.Clients().Create(ctx, c))
	}
	ts := o.tools
	if ts == nil {
		ts = []store.Tool{
			{Name: "sales_report", Builtin: "sales_report", Roles: []string{"sales-manager"}},
			{Name: "payroll_report", Builtin: "payroll_report", Roles: []string{"hr"}},
		}
	}
	for _, tl := range ts {
		must(st.Tools().Create(ctx, tl))
	}
	for _, u := range o.upstreams {
		must(st.Upstreams().Create(ctx, u))
	}
}

func newEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	var st *sqldb.DB
	if tt, ok := t.(*testing.T); ok {
		st = storetest.OpenSQLite(tt)
	} else {
		st = openSQLiteB(t)
	}
	seed(t, st, o)
	master := make([]byte, 32)
	rand.Read(master)
	sealer, _ := keys.NewSealer(master)
	km, err := keys.Open(context.Background(), st, sealer, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, st: st, keys: km, sealer: sealer, mux: http.NewServeMux()}
	if o.realAudit {
		// The trail logs to the gateway's logger, as the server wires them.
		l := audit.New(st, km, &audit.Options{CheckpointInterval: -1, Logger: o.logger})
		t.Cleanup(func() { l.Close() })
		e.audit = l
	} else {
		e.mem = &memAudit{}
		e.audit = e.mem
	}
	e.srv = httptest.NewUnstartedServer(e.mux)
	e.issuer = "http://" + e.srv.Listener.Addr().String()
	e.resource = e.issuer + "/mcp"
	minter := &slip.Minter{Issuer: e.issuer, Keys: km, Store: st, Audit: e.audit}
	rec := e.audit
	if o.recorder != nil {
		rec = o.recorder(rec)
	}
	e.gw = &gateway.Gateway{
		Resource: e.resource, Issuer: e.issuer, Store: st, Keys: km, Slips: minter,
		Audit: rec, AllowedOrigins: o.origins, Revocations: o.revocations, Logger: o.logger,
		Counters: o.counters,
	}
	e.gw.Mount(e.mux)
	e.gw.WrapNotify(e.notices.count)
	// The issuer's side a tool uses: metadata, JWKS, introspection.
	e.mux.HandleFunc("GET /.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{"issuer": e.issuer, "jwks_uri": e.issuer + "/jwks", "introspection_endpoint": e.issuer + "/introspect"})
	})
	e.mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) { w.Write(km.JWKS()) })
	e.mux.HandleFunc("POST /introspect", func(w http.ResponseWriter, r *http.Request) {
		id, _, _ := r.BasicAuth()
		id, _ = url.QueryUnescape(id)
		resp, ok := minter.Introspect(r.Context(), r.PostFormValue("token"), id, true)
		if !ok {
			resp = map[string]any{"active": false}
		}
		json.NewEncoder(w).Encode(resp)
	})
	e.srv.Start()
	t.Cleanup(e.srv.Close)
	if err := e.gw.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.gw.Close() })
	return e
}

// token mints an access token for /mcp.
func (e *env) token(sub, clientID string, mod ...func(*accesstoken.Claims)) string {
	now := time.Now()
	c := accesstoken.Claims{Issuer: e.issuer, Subject: sub, Audience: accesstoken.Audience{e.resource},
		ClientID: clientID, JTI: "at-" + sub + "-" + slip.NewID(), IssuedAt: now.Unix(), Expiry: now.Add(time.Hour).Unix(),
		SessionID: "sid-" + sub}
	for _, m := range mod {
		m(&c)
	}
	tok, err := accesstoken.Mint(e.keys, c)
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// bearer adds an Authorization header to every request.
type bearer struct {
	token string
	base  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	base := b.base
	if base == nil {
		base = http.DefaultTransport
	}
	return base.RoundTrip(r)
}

// connect opens an MCP session with the official Go client; version ""
// lets the client choose (the newest, stateless revision).
func (e *env) connect(sub, clientID, version string) *mcp.ClientSession {
	e.t.Helper()
	return e.connectToken(e.token(sub, clientID), version, nil)
}

func (e *env) connectToken(token, version string, opts *mcp.ClientOptions) *mcp.ClientSession {
	e.t.Helper()
	client := mcp.NewClient(&mcp.Implementation{Name: "test-agent", Version: "1"}, opts)
	tr := &mcp.StreamableClientTransport{Endpoint: e.resource, HTTPClient: &http.Client{Transport: bearer{token: token}}}
	var so *mcp.ClientSessionOptions
	if version != "" {
		so = &mcp.ClientSessionOptions{ProtocolVersion: version}
	}
	cs, err := client.Connect(context.Background(), tr, so)
	if err != nil {
		e.t.Fatalf("connect: %v", err)
	}
	e.t.Cleanup(func() { cs.Close() })
	return cs
}

func toolNames(t testing.TB, cs *mcp.ClientSession) []string {
	t.Helper()
	res, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatalf("ListTools: %v", err)
	}
	names := []string{}
	for _, tl := range res.Tools {
		names = append(names, tl.Name)
	}
	return names
}

func call(t testing.TB, cs *mcp.ClientSession, name string, args any) *mcp.CallToolResult {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("CallTool %s: %v", name, err)
	}
	return res
}

func text(r *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range r.Content {
		if t, ok := c.(*mcp.TextContent); ok {
			b.WriteString(t.Text)
		}
	}
	return b.String()
}
