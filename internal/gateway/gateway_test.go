package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/buildinfo"
	"github.com/gatehouse/gatehouse/internal/gateway"
	"github.com/gatehouse/gatehouse/internal/identity/accesstoken"
	"github.com/gatehouse/gatehouse/internal/store"
)

// versions are the protocol revisions the tests drive: "" is the client's
// default (the newest, stateless one), then the session-based ones, down to
// the oldest the SDK serves.
var versions = []string{"", "2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"}

func TestProtectedResourceMetadata(t *testing.T) {
	e := newEnv(t, envOptions{})
	resp, err := http.Get(e.issuer + "/.well-known/oauth-protected-resource/mcp")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var meta map[string]any
	json.NewDecoder(resp.Body).Decode(&meta)
	if meta["resource"] != e.resource || !slices.Equal(toStrings(meta["authorization_servers"]), []string{e.issuer}) {
		t.Errorf("metadata = %v", meta)
	}
}

func toStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

func post(t *testing.T, url string, header map[string]string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for k, v := range header {
		if k == "Host" {
			req.Host = v
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func TestBearerChallenges(t *testing.T) {
	e := newEnv(t, envOptions{origins: []string{"https://app.example"}})
	meta := `resource_metadata="` + e.issuer + `/.well-known/oauth-protected-resource/mcp"`
	other := e.token("alice", "acme-assistant", func(c *accesstoken.Claims) { c.Audience = accesstoken.Audience{e.issuer + "/other"} })
	expired := e.token("alice", "acme-assistant", func(c *accesstoken.Claims) { c.IssuedAt -= 7200; c.Expiry -= 7200 })
	wrongIss := e.token("alice", "acme-assistant", func(c *accesstoken.Claims) { c.Issuer = "http://evil.example" })
	tests := []struct {
		name   string
		header map[string]string
		status int
		auth   []string // substrings of WWW-Authenticate
	}{
		{"no token", nil, 401, []string{"Bearer ", meta}},
		{"not bearer", map[string]string{"Authorization": "Basic YTpi"}, 401, []string{meta}},
		{"garbage", map[string]string{"Authorization": "Bearer abc"}, 401, []string{meta, `error="invalid_token"`}},
		{"other audience", map[string]string{"Authorization": "Bearer " + other}, 401, []string{`error="invalid_token"`, "not for this resource"}},
		{"expired", map[string]string{"Authorization": "Bearer " + expired}, 401, []string{`error="invalid_token"`, "expired"}},
		{"other issuer", map[string]string{"Authorization": "Bearer " + wrongIss}, 401, []string{`error="invalid_token"`}},
		{"disabled user", map[string]string{"Authorization": "Bearer " + e.token("erin", "acme-assistant")}, 401, []string{`error="invalid_token"`}},
		{"unknown client", map[string]string{"Authorization": "Bearer " + e.token("alice", "ghost")}, 401, []string{`error="invalid_token"`}},
		{"ok", map[string]string{"Authorization": "Bearer " + e.token("alice", "acme-assistant")}, 200, nil},
		{"rebinding host", map[string]string{"Authorization": "Bearer " + e.token("alice", "acme-assistant"), "Host": "attacker.example"}, 403, nil},
		{"foreign origin", map[string]string{"Authorization": "Bearer " + e.token("alice", "acme-assistant"), "Origin": "https://attacker.example"}, 403, nil},
		{"allowed origin", map[string]string{"Authorization": "Bearer " + e.token("alice", "acme-assistant"), "Origin": "https://app.example"}, 200, nil},
		{"same origin", map[string]string{"Authorization": "Bearer " + e.token("alice", "acme-assistant"), "Origin": e.issuer}, 200, nil},
		{"loopback alias", map[string]string{"Authorization": "Bearer " + e.token("alice", "acme-assistant"), "Host": strings.Replace(e.srv.Listener.Addr().String(), "127.0.0.1", "localhost", 1)}, 200, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := post(t, e.resource, tt.header)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			got := resp.Header.Get("WWW-Authenticate")
			for _, want := range tt.auth {
				if !strings.Contains(got, want) {
					t.Errorf("WWW-Authenticate %q lacks %q", got, want)
				}
			}
		})
	}
}

func TestToolsFollowRoles(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, v := range versions {
		t.Run("version="+v, func(t *testing.T) {
			tests := []struct {
				sub, client string
				want        []string
			}{
				{"alice", "acme-assistant", []string{"sales_report"}},
				{"bob", "acme-assistant", []string{"payroll_report"}},
				{"bob", "payroll-bot", []string{"payroll_report"}},
				{"alice", "payroll-bot", []string{}}, // the cap narrows, never widens
				{"dave", "acme-assistant", []string{}},
			}
			for _, tt := range tests {
				cs := e.connect(tt.sub, tt.client, v)
				if got := toolNames(t, cs); !slices.Equal(got, tt.want) {
					t.Errorf("%s via %s sees %v, want %v", tt.sub, tt.client, got, tt.want)
				}
			}

			alice := e.connect("alice", "acme-assistant", v)
			if got := alice.InitializeResult().ProtocolVersion; v != "" && got != v || v == "" && got != "2026-07-28" {
				t.Errorf("negotiated %s", got)
			}
			if si := alice.InitializeResult().ServerInfo; si.Name != "gatehouse" || si.Version != buildinfo.Version {
				t.Errorf("serverInfo %+v, want gatehouse %s, as 'gatehouse version' says", si, buildinfo.Version)
			}
			res := call(t, alice, "sales_report", map[string]any{"month": "2026-10", "region": "emea"})
			if res.IsError || !strings.Contains(text(res), "Sales report 2026-10, region emea") {
				t.Fatalf("alice's sales report: %v %q", res.IsError, text(res))
			}
			if sc, _ := res.StructuredContent.(map[string]any); sc["region"] != "emea" {
				t.Errorf("structured content = %v", res.StructuredContent)
			}
			// A tool she may not call and a tool that does not exist get
			// the same answer, but for the name.
			denied := call(t, alice, "payroll_report", map[string]any{"month": "2026-10"})
			unknown := call(t, alice, "payroll_reporT", map[string]any{"month": "2026-10"})
			if !denied.IsError || text(denied) != "Sorry, you don't have access to payroll_report." {
				t.Errorf("denied: %v %q", denied.IsError, text(denied))
			}
			d, _ := json.Marshal(denied)
			u, _ := json.Marshal(unknown)
			if strings.Replace(string(u), "payroll_reporT", "payroll_report", 1) != string(d) {
				t.Errorf("denied and unknown differ:\n%s\n%s", d, u)
			}
			// dave has no role at all.
			dave := e.connect("dave", "acme-assistant", v)
			if res := call(t, dave, "sales_report", map[string]any{"month": "2026-10"}); !res.IsError {
				t.Error("dave ran the sales report")
			}
		})
	}
}

func TestAuditTrailOfACall(t *testing.T) {
	e := newEnv(t, envOptions{realAudit: true})
	log := e.audit.(*audit.Log)
	cs := e.connect("alice", "acme-assistant", "2025-11-25")
	if res := call(t, cs, "sales_report", map[string]any{"month": "2026-10"}); res.IsError {
		t.Fatal(text(res))
	}
	if res := call(t, cs, "payroll_report", map[string]any{"month": "2026-10"}); !res.IsError {
		t.Fatal("payroll allowed")
	}
	page, err := log.Query(context.Background(), audit.Filter{Actor: "alice", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	corr := map[string]bool{}
	for _, en := range page.Entries {
		ev := en.Event
		got = append(got, ev.Type+" "+ev.Tool+" "+ev.Decision+ev.Status)
		if ev.Type != audit.ToolsListed {
			corr[ev.Correlation] = true
		}
		if ev.Type != audit.SlipRedeemed && (ev.Session != "sid-alice" || !strings.HasPrefix(ev.TokenID, "at-alice-") || ev.Agent != "acme-assistant") {
			t.Errorf("event lacks session, token or agent: %+v", ev)
		}
		if jwsInText.Match(en.Raw) {
			t.Errorf("a token reached the audit trail: %s", en.Raw)
		}
	}
	want := []string{
		"tool.decision sales_report allow",
		"slip.minted sales_report ",
		"slip.redeemed sales_report ok",
		"tool.result sales_report ok",
		"tool.decision payroll_report deny",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("audit (-want +got):\n%s", diff)
	}
	if len(corr) != 2 {
		t.Errorf("%d correlation ids, want one per call: %v", len(corr), corr)
	}
	dec := page.Entries[0].Event
	if dec.Policy != "tool:sales_report" || len(dec.Reasons) == 0 || dec.ArgsDigest == "" {
		t.Errorf("allow decision = %+v", dec)
	}
	deny := page.Entries[4].Event
	if deny.Policy != "default-deny" || len(deny.Reasons) == 0 {
		t.Errorf("deny decision = %+v", deny)
	}
	// The allow and its slip went into one commit (one durable wait):
	// same time, and only the last of the two carries the commit's
	// signature.
	if e0, e1 := page.Entries[0], page.Entries[1]; !e0.Time.Equal(e1.Time) || e0.Sig != "" || dec.SlipID != e1.Event.SlipID {
		t.Errorf("decision and slip.minted not committed together: %+v / %+v", e0, e1)
	}
	if page.Entries[1].Event.SlipID == "" || page.Entries[1].Event.SlipID != page.Entries[2].Event.SlipID || page.Entries[3].Event.DurationMS <= 0 {
		t.Errorf("slip/result events = %+v / %+v / %+v", page.Entries[1].Event, page.Entries[2].Event, page.Entries[3].Event)
	}
	if rep, err := log.Verify(context.Background(), nil); err != nil || !rep.OK {
		t.Errorf("audit chain verify: %+v %v", rep, err)
	}
}

// TestArgumentsCannotBeSmuggled: the policy decides on the arguments the
// backend receives, whatever tricks the JSON plays.
func TestArgumentsCannotBeSmuggled(t *testing.T) {
	var mu sync.Mutex
	var bodies []string
	api := newAPI(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		mu.Lock()
		bodies = append(bodies, string(body))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"refunded":true}`))
	})
	e := newEnv(t, envOptions{tools: []store.Tool{{
		Name: "refund", Roles: []string{"support"}, When: "context.args.amount <= 50",
		HTTP: &store.HTTPBackend{Method: "POST", URL: api}, InputSchema: json.RawMessage(`{"type":"object","properties":{"amount":{"type":"number"}}}`),
	}}})
	cs := e.connect("carol", "acme-assistant", "2025-11-25")
	for _, tt := range []struct {
		args  string
		allow bool
	}{
		{`{"amount": 10}`, true},
		{`{"amount": 500}`, false},
		{`{"amount": 10, "Amount": 500}`, false},      // case
		{`{"amount": 10, "AMOUNT": 500}`, false},      // case
		{`{"amount": 10, "amount": 500}`, false},      // duplicate
		{`{"amount": 500, "amount": 10}`, false},      // duplicate, the other way
		{`{"amount": 10, "\u0061mount": 500}`, false}, // duplicate through an escape
		{`{"amount": 10, "nested": {"k": 1, "K": 2}}`, false},
		{`{"amount": 9007199254740993}`, false}, // would round
		{`[10]`, false},
	} {
		res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "refund", Arguments: json.RawMessage(tt.args)})
		if err != nil {
			t.Fatalf("%s: %v", tt.args, err)
		}
		if res.IsError == tt.allow {
			t.Errorf("%s: allowed=%v, want %v (%s)", tt.args, !res.IsError, tt.allow, text(res))
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(bodies, []string{`{"amount":10}`}) {
		t.Errorf("the API received %q", bodies)
	}
}

// TestConcurrentSessions: many people's agents at once, each session with
// the same JSON-RPC ids, each seeing its own results.
func TestConcurrentSessions(t *testing.T) {
	e := newEnv(t, envOptions{})
	var wg sync.WaitGroup
	for i, who := range []string{"alice", "carol", "alice", "carol", "alice", "carol"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v := versions[i%len(versions)]
			cs := e.connect(who, "acme-assistant", v)
			region := map[string]string{"alice": "emea", "carol": "amer"}[who]
			for m := 1; m <= 10; m++ {
				month := fmt.Sprintf("2026-%02d", m)
				res := call(t, cs, "sales_report", map[string]any{"month": month, "region": region})
				sc, _ := res.StructuredContent.(map[string]any)
				if res.IsError || sc["month"] != month || sc["region"] != region {
					t.Errorf("%s asked %s/%s, got %v %v", who, month, region, sc["month"], sc["region"])
				}
			}
		}()
	}
	wg.Wait()
}

func TestCatalogueReload(t *testing.T) {
	e := newEnv(t, envOptions{})
	changed := make(chan struct{}, 10)
	cs := e.connectToken(e.token("dave", "acme-assistant"), "2025-11-25", &mcp.ClientOptions{
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) { changed <- struct{}{} },
	})
	if got := toolNames(t, cs); len(got) != 0 {
		t.Fatalf("dave sees %v", got)
	}
	ctx := context.Background()
	if err := e.st.Users().Update(ctx, "dave", func(u store.User) (store.User, error) { u.Roles = []string{"hr"}; return u, nil }); err != nil {
		t.Fatal(err)
	}
	if err := e.gw.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if got := toolNames(t, cs); !slices.Equal(got, []string{"payroll_report"}) {
		t.Errorf("after the grant dave sees %v", got)
	}
	// A new tool tells sessions the list changed.
	if err := e.st.Tools().Create(ctx, store.Tool{Name: "payroll_copy", Builtin: "payroll_report", Roles: []string{"hr"}}); err != nil {
		t.Fatal(err)
	}
	e.gw.Reload(ctx)
	select {
	case <-changed:
	case <-time.After(30 * time.Second):
		t.Fatal("no notifications/tools/list_changed")
	}
	if got := toolNames(t, cs); !slices.Equal(got, []string{"payroll_copy", "payroll_report"}) {
		t.Errorf("after the new tool dave sees %v", got)
	}
}

func TestScopeStepUp(t *testing.T) {
	e := newEnv(t, envOptions{})
	narrow := e.token("carol", "acme-assistant", func(c *accesstoken.Claims) { c.Scope = "openid tool:payroll_report" })
	cs := e.connectToken(narrow, "2025-11-25", nil)
	if got := toolNames(t, cs); len(got) != 0 {
		t.Errorf("a token narrowed to payroll shows %v to carol", got)
	}
	_, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "sales_report", Arguments: map[string]any{"month": "2026-10"}})
	if err == nil || !strings.Contains(err.Error(), "403") && !strings.Contains(err.Error(), "insufficient_scope") && !strings.Contains(err.Error(), "Forbidden") {
		t.Errorf("call beyond the token's scope: %v", err)
	}
	// The raw answer: 403 with the scope to ask for.
	resp := postMCP(t, e, narrow, `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"sales_report","arguments":{"month":"2026-10"}}}`)
	resp.Body.Close()
	if got := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != 403 || !strings.Contains(got, `error="insufficient_scope"`) || !strings.Contains(got, `scope="openid tool:payroll_report tool:sales_report"`) {
		t.Errorf("step-up answer: %d %q", resp.StatusCode, got)
	}
}

// TestRefresherPicksUpChanges: without anyone calling Reload, a change in
// the store (made by another replica, the CLI or the admin API) reaches the
// gateway through the revision it polls.
func TestRefresherPicksUpChanges(t *testing.T) {
	e := newEnv(t, envOptions{})
	cs := e.connect("dave", "acme-assistant", "2025-11-25")
	if err := e.st.Users().Update(context.Background(), "dave", func(u store.User) (store.User, error) { u.Roles = []string{"sales-manager"}; return u, nil }); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the grant", func() bool { return slices.Equal(toolNames(t, cs), []string{"sales_report"}) })
	if err := e.st.Users().Update(context.Background(), "dave", func(u store.User) (store.User, error) { u.Disabled = true; return u, nil }); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the user disabled", func() bool {
		_, err := cs.ListTools(context.Background(), nil)
		return err != nil
	})
}

// A revoked access token stops working at /mcp within the recheck bound,
// whether the token itself, its whole grant or a token it was exchanged
// from (RFC 8693) was revoked, even though the gateway had verified and
// cached it.
func TestRevokedTokenRefused(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	byJTI := e.token("alice", "acme-assistant", func(c *accesstoken.Claims) { c.GrantID = "grant-1" })
	byGrant := e.token("alice", "acme-assistant", func(c *accesstoken.Claims) { c.GrantID = "grant-2" })
	other := e.token("alice", "acme-assistant", func(c *accesstoken.Claims) { c.GrantID = "grant-3" })
	byParent := e.token("alice", "acme-assistant", func(c *accesstoken.Claims) {
		c.GrantID, c.Parents = "grant-4", []string{"at-first", "at-revoked"}
	})
	for _, tok := range []string{byJTI, byGrant, other, byParent} {
		if resp := post(t, e.resource, map[string]string{"Authorization": "Bearer " + tok}); resp.StatusCode != 200 {
			t.Fatalf("before revocation: status %d", resp.StatusCode)
		}
	}
	claims, err := accesstoken.Verify(e.keys, byJTI, e.issuer, e.resource, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour)
	if err := e.st.Identity().Revoke(ctx, store.RevokedToken, claims.JTI, exp); err != nil {
		t.Fatal(err)
	}
	if err := e.st.Identity().Revoke(ctx, store.RevokedGrant, "grant-2", exp); err != nil {
		t.Fatal(err)
	}
	if err := e.st.Identity().Revoke(ctx, store.RevokedToken, "at-revoked", exp); err != nil {
		t.Fatal(err)
	}
	time.Sleep(gateway.RevocationRecheck + 100*time.Millisecond)
	for name, tok := range map[string]string{"token revoked": byJTI, "grant revoked": byGrant, "parent revoked": byParent} {
		resp := post(t, e.resource, map[string]string{"Authorization": "Bearer " + tok})
		if got := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != 401 || !strings.Contains(got, `error="invalid_token"`) || !strings.Contains(got, "revoked") {
			t.Errorf("%s: status %d, WWW-Authenticate %q; want 401 invalid_token, revoked", name, resp.StatusCode, got)
		}
	}
	if resp := post(t, e.resource, map[string]string{"Authorization": "Bearer " + other}); resp.StatusCode != 200 {
		t.Errorf("a token of another grant: status %d, want 200", resp.StatusCode)
	}
}

type brokenRevocations struct{}

func (brokenRevocations) Revoked(context.Context, string, string) (bool, error) {
	return false, errors.New("database is locked")
}

// When the store cannot say whether a token was revoked, the gateway does
// not use it: 503, and no word of the store's error to the caller.
func TestRevocationUnknownRefused(t *testing.T) {
	e := newEnv(t, envOptions{revocations: brokenRevocations{}})
	req, _ := http.NewRequest("POST", e.resource, strings.NewReader(`{}`))
	req.Header.Set("Authorization", "Bearer "+e.token("alice", "acme-assistant"))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || strings.Contains(string(body), "locked") {
		t.Errorf("status %d, body %q; want 503 without the store's error", resp.StatusCode, body)
	}
}

// A tool call's arguments reach the trail only as a digest, unless the
// tenant opts in (audit.raw_arguments), and then as the canonical JSON the
// decision was made on. The setting takes effect without a restart.
func TestRawArgumentsOnlyWhenOptedIn(t *testing.T) {
	e := newEnv(t, envOptions{realAudit: true})
	log := e.audit.(*audit.Log)
	ctx := context.Background()
	cs := e.connect("alice", "acme-assistant", "2025-11-25")
	decisions := func() []audit.Entry {
		page, err := log.Query(ctx, audit.Filter{Types: []string{audit.ToolDecided}, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		return page.Entries
	}
	call(t, cs, "sales_report", map[string]any{"month": "2026-10", "region": "EMEA"})
	if raw := string(decisions()[0].Raw); strings.Contains(raw, "EMEA") || strings.Contains(raw, "arguments") {
		t.Fatalf("arguments in the trail without opting in: %s", raw)
	}
	if err := e.st.SetSetting(ctx, "audit.raw_arguments", "true"); err != nil {
		t.Fatal(err)
	}
	if err := e.gw.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	call(t, cs, "sales_report", map[string]any{"region": "EMEA", "month": "2026-10"})
	call(t, cs, "payroll_report", map[string]any{"month": "2026-10"})
	got := decisions()
	if len(got) != 3 {
		t.Fatalf("%d decisions, want 3", len(got))
	}
	for _, en := range got[1:] {
		args, _ := en.Event.Detail["arguments"].(map[string]any)
		if args["month"] != "2026-10" {
			t.Errorf("%s %s: detail %v lacks the arguments", en.Event.Tool, en.Event.Decision, en.Event.Detail)
		}
	}
	if got[1].Event.ArgsDigest != got[0].Event.ArgsDigest {
		t.Errorf("same arguments in another key order, other digest: %s vs %s", got[1].Event.ArgsDigest, got[0].Event.ArgsDigest)
	}
}

// A client_credentials token's subject is its client: no person is behind
// it, and a user who happens to share the client's name lends it nothing.
func TestMachineTokenHasNoPersonsRoles(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	if err := e.st.Users().Create(ctx, store.User{Username: "payroll-bot", Roles: []string{"hr"}}); err != nil {
		t.Fatal(err)
	}
	if err := e.gw.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	machine := e.connectToken(e.token("payroll-bot", "payroll-bot", func(c *accesstoken.Claims) { c.SessionID = "" }), "2025-11-25", nil)
	if got := toolNames(t, machine); len(got) != 0 {
		t.Errorf("the machine token sees %v, want nothing", got)
	}
	if r := call(t, machine, "payroll_report", map[string]any{"month": "2026-10"}); !r.IsError {
		t.Errorf("the machine token ran payroll_report: %q", text(r))
	}
	// The same person through the agent, with a grant, keeps the role.
	person := e.connectToken(e.token("payroll-bot", "payroll-bot", func(c *accesstoken.Claims) { c.GrantID = "g-1" }), "2025-11-25", nil)
	if got := toolNames(t, person); !slices.Equal(got, []string{"payroll_report"}) {
		t.Errorf("the person sees %v", got)
	}
}

// jwsInText finds a compact JWS (a JWT) in a text: a header beginning
// {" in base64url, a dot, more. Not "eyJ" alone, which a random ID holds
// now and then (one did: at-alice-P7TGiUpeyJOXVTmmjHA4l-).
var jwsInText = regexp.MustCompile(`eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+`)
