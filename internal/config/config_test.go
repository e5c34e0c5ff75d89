package config_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/storetest"
)

var builtins = []string{"sales_report", "payroll_report"}

func problems(t *testing.T, err error) []string {
	t.Helper()
	var ps config.Problems
	if !errors.As(err, &ps) {
		t.Fatalf("want config.Problems, got %v", err)
	}
	var out []string
	for _, p := range ps {
		out = append(out, p.String())
	}
	return out
}

func parse(t *testing.T, src string) (*config.File, error) {
	t.Helper()
	f, err := config.Parse(strings.NewReader(src), "t.yaml")
	if err != nil {
		return nil, err
	}
	return f, f.Validate(builtins)
}

func TestParseStrict(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{"unknown top-level and nested fields, all reported",
			"tenant: acme\nrolez: []\nusers:\n  - username: a\n    pasword: x\n",
			[]string{
				"t.yaml:2: rolez: unknown field (known: audit, clients, connections, limits, roles, tenant, tools, upstreams, users)",
				"t.yaml:5: users[0].pasword: unknown field (known: attributes, disabled, email, password, password_hash, roles, username)",
			}},
		{"duplicate key", "tenant: a\ntenant: b\n", []string{"t.yaml:2: tenant: appears twice"}},
		{"wrong shapes", "tenant: acme\nroles: admin\nusers:\n  - username: [a]\n",
			[]string{"t.yaml:2: roles: must be a list", "t.yaml:4: users[0].username: must be a single value"}},
		{"syntax error", "tenant: acme\n  roles: - x\n", []string{"t.yaml:2: mapping values are not allowed in this context"}},
		{"empty", "", []string{"t.yaml: file is empty"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse(strings.NewReader(tt.src), "t.yaml")
			if diff := cmp.Diff(tt.want, problems(t, err)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{"unknown role", "tenant: acme\nusers:\n  - username: a\n    roles: [nope]\n",
			[]string{`t.yaml:4: users[0].roles[0]: unknown role "nope"`}},
		{"duplicates", "tenant: acme\nroles:\n  - name: r\n  - name: r\n",
			[]string{`t.yaml:4: roles[1].name: role "r" is defined twice (first on line 3)`}},
		{"client rules", `tenant: acme
clients:
  - client_id: app
    kind: native
    secret: "0123456789abcdef0123456789abcdef"
    redirect_uris: ["http://example.com/cb", "https://ok.example/cb#frag", "javascript:alert(1)"]
  - client_id: svc
    kind: service
`, []string{
			"t.yaml:5: clients[0].secret: a native client cannot keep a secret: remove it",
			`t.yaml:6: clients[0].redirect_uris[0]: "http://example.com/cb": plain http is only allowed to a loopback address`,
			`t.yaml:6: clients[0].redirect_uris[1]: "https://ok.example/cb#…": a redirect URI cannot have a fragment`,
			`t.yaml:6: clients[0].redirect_uris[2]: "javascript:alert(1)": scheme javascript is not allowed`,
			"t.yaml:7: clients[1].secret: a service client needs a secret",
		}},
		{"short client secret", `tenant: acme
clients:
  - client_id: svc
    kind: service
    secret: "fifteen-chars!!"
  - client_id: ok
    kind: service
    secret: "0123456789abcdef0123456789abcdef"
`, []string{
			"t.yaml:5: clients[0].secret: must be at least 16 characters (better, generate one: e.g. 32 random bytes base64url)",
		}},
		{"connection rules", `tenant: acme
connections:
  - name: "bad name"
    issuer: http://idp.example.com
    client_secret_env: "1X"
    role_map: {g: [ghost]}
`, []string{
			`t.yaml:3: connections[0].name: "bad name": letters, digits, '-' and '_' only`,
			`t.yaml:3: connections[0].client_id: is required`,
			`t.yaml:3: connections[0].roles_claim: role_map needs roles_claim (the upstream claim holding groups or roles)`,
			`t.yaml:4: connections[0].issuer: "http://idp.example.com": must be an https URL (http only to a loopback address)`,
			`t.yaml:5: connections[0].client_secret_env: is not an environment variable name: upper-case letters, digits and _ (what was given is not repeated: it may be a secret)`,
			`t.yaml:6: connections[0].role_map.g[0]: unknown role "ghost"`,
		}},
		{"a client named like a user", `tenant: acme
users:
  - username: alice
clients:
  - client_id: alice
    kind: service
    secret: "0123456789abcdef0123456789abcdef"
`, []string{
			`t.yaml:5: clients[0].client_id: "alice" is also a user (line 3): a person and a client cannot share a name`,
		}},
		{"upstream credentials", `tenant: acme
upstreams:
  - name: crm
    command: [crm-server]
    headers_env: {Authorization: CRM_AUTH}
  - name: files
    url: http://127.0.0.1:9100/mcp
    headers_env:
      Host: FILES_HOST
      "bad header": FILES_AUTH
      X-Api-Key: "1-not-a-name"
  - name: docs
    url: http://127.0.0.1:9101/mcp
    per_caller: true
    env: [DOCS_TOKEN]
  - name: git
    command: [git-mcp]
    env: [GITHUB_TOKEN, GATEHOUSE_MASTER_KEY, "1BAD"]
`, []string{
			"t.yaml:5: upstreams[0].headers_env: only goes with url (a stdio upstream gets the server's environment)",
			`t.yaml:9: upstreams[1].headers_env.Host: is set by the gateway itself`,
			`t.yaml:10: upstreams[1].headers_env: is not a header name (what was given is not repeated: it may be a secret)`,
			`t.yaml:11: upstreams[1].headers_env.X-Api-Key: is not an environment variable name: upper-case letters, digits and _ (what was given is not repeated: it may be a secret)`,
			"t.yaml:14: upstreams[2].per_caller: only goes with command (a Streamable HTTP upstream gives each caller a session of its own already)",
			"t.yaml:15: upstreams[2].env: only goes with command (a Streamable HTTP upstream gets headers_env)",
			"t.yaml:18: upstreams[3].env[1]: is one of Gatehouse's own settings, never passed on",
			`t.yaml:18: upstreams[3].env[2]: is not an environment variable name: upper-case letters, digits and _ (what was given is not repeated: it may be a secret)`,
		}},
		{"tool rules", `tenant: acme
roles: [{name: support}]
clients:
  - {client_id: web, kind: web, secret: "0123456789abcdef0123456789abcdef"}
  - {client_id: capped, kind: agent, tools: [ghost]}
tools:
  - name: "bad name!"
    builtin: nope
  - name: t2
    http: {method: FETCH, url: "ftp://x", client_id: web}
    input_schema: {type: array}
  - name: t3
    builtin: sales_report
    roles: [support]
    when: 'context.args.amount <='
`, []string{
			`t.yaml:5: clients[1].tools[0]: unknown tool "ghost"`,
			`t.yaml:7: tools[0].name: "bad name!": 1–64 letters, digits, '_', '-' or '.'`,
			`t.yaml:8: tools[0].builtin: unknown built-in tool "nope" (this binary has: sales_report, payroll_report)`,
			`t.yaml:10: tools[1].http.method: "FETCH": must be GET, POST, PUT, PATCH or DELETE`,
			`t.yaml:10: tools[1].http.url: "ftp://x" is not an http(s) URL`,
			`t.yaml:10: tools[1].http.client_id: client "web" must be of kind service to introspect slips`,
			`t.yaml:11: tools[1].input_schema: must be a JSON Schema with type: object`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse(t, tt.src)
			got := problems(t, err)
			if tt.name == "tool rules" {
				// The condition's own message comes from the policy engine;
				// only check it is there, on its line.
				if len(got) == 0 || !strings.HasPrefix(got[len(got)-1], "t.yaml:15: tools[2].when: ") {
					t.Errorf("missing the bad condition: %q", got)
				} else {
					got = got[:len(got)-1]
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestThreeMistakes is the acceptance check: three separate
// mistakes, all reported, and the store untouched.
func TestThreeMistakes(t *testing.T) {
	st := storetest.OpenSQLite(t)
	ctx := context.Background()
	good, err := config.Load("testdata/acme.yaml", builtins)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := config.Apply(ctx, st, good, config.Argon2, nil); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, st)
	_, err = config.Load("testdata/three-mistakes.yaml", builtins)
	got := problems(t, err)
	want := []string{
		`testdata/three-mistakes.yaml:7: users[0].roles[0]: unknown role "sales-manger"`,
		`testdata/three-mistakes.yaml:10: clients[0].kind: "robot": must be agent, web, native or service`,
		`testdata/three-mistakes.yaml:12: tools[0]: needs exactly one of builtin, upstream or http`,
		`testdata/three-mistakes.yaml:14: tools[0].upstream: unknown upstream "crm"`,
	}
	// The third mistake (two backends where one belongs) names an unknown
	// upstream too: both are said.
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(before, snapshot(t, st)); diff != "" {
		t.Errorf("store changed (-before +after):\n%s", diff)
	}
}

func TestApplyIdempotentAndSecretsHashed(t *testing.T) {
	st := storetest.OpenSQLite(t)
	ctx := context.Background()
	f, err := config.Load("testdata/acme.yaml", builtins)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := config.Apply(ctx, st, f, config.Argon2, &config.ApplyOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(plan) == 0 {
		t.Fatal("dry run planned nothing")
	}
	if users, _ := st.Users().List(ctx); len(users) != 0 {
		t.Fatalf("dry run wrote users: %v", users)
	}
	plan, err = config.Apply(ctx, st, f, config.Argon2, nil)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, c := range plan {
		lines = append(lines, c.String())
	}
	want := []string{
		"+ setting tenant", "+ role admin", "+ role sales-manager", "+ role support",
		"+ upstream crm", "+ upstream files", "+ client acme-assistant", "+ client billing-api",
		"+ tool sales_report", "+ tool crm_lookup", "+ tool refund", "+ user alice",
	}
	if diff := cmp.Diff(want, lines); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
	again, err := config.Apply(ctx, st, f, config.Argon2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(again) != 0 {
		t.Errorf("second apply changed %v", again)
	}
	alice, _ := st.Users().Get(ctx, "alice")
	if !strings.HasPrefix(alice.PasswordHash, "$argon2id$") || !config.Argon2.Verify("change me", alice.PasswordHash) {
		t.Errorf("password not stored as a verifying argon2id hash: %q", alice.PasswordHash)
	}
	svc, _ := st.Clients().Get(ctx, "billing-api")
	if !config.Argon2.Verify("a long random secret of 32+ chars", svc.SecretHash) {
		t.Errorf("client secret not hashed")
	}
	assistant, _ := st.Clients().Get(ctx, "acme-assistant")
	if diff := cmp.Diff([]string{"sales_report"}, assistant.Tools); diff != "" {
		t.Errorf("agent cap: %s", diff)
	}
	// No clear secret anywhere in what the store holds.
	for _, secret := range []string{"change me", "a long random secret of 32+ chars"} {
		if dump := dumpStore(t, st); strings.Contains(dump, secret) {
			t.Errorf("clear secret %q in the store", secret)
		}
	}

	// A change shows as an update naming the fields, secrets by name only.
	f.Users[0].Password = "a new password"
	f.Users[0].Roles = append(f.Users[0].Roles, "support")
	plan, err = config.Apply(ctx, st, f, config.Argon2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := planLines(plan); !cmp.Equal(got, []string{"~ user alice (roles, password)"}) {
		t.Errorf("update plan = %q", got)
	}
	// An agent is disabled like a user: a change of the plan (audited
	// with it), kept in the store.
	for i := range f.Clients {
		if f.Clients[i].ClientID == "acme-assistant" {
			f.Clients[i].Disabled = true
		}
	}
	plan, err = config.Apply(ctx, st, f, config.Argon2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := planLines(plan); !cmp.Equal(got, []string{"~ client acme-assistant (disabled)"}) {
		t.Errorf("disable plan = %q", got)
	}
	if c, _ := st.Clients().Get(ctx, "acme-assistant"); !c.Disabled {
		t.Errorf("the disabled client is not stored disabled: %+v", c)
	}
	// Prune removes what the file no longer has, never registered clients.
	mustNil(t, st.Clients().Create(ctx, store.Client{ClientID: "dyn", Kind: store.KindAgent, Source: store.SourceRegistered}))
	mustNil(t, st.Tools().Create(ctx, store.Tool{Name: "offered", Upstream: "crm", Status: store.ToolPending}))
	f.Tools = f.Tools[:1]
	f.Upstreams = nil
	plan, err = config.Apply(ctx, st, f, config.Argon2, &config.ApplyOptions{Prune: true})
	if err != nil {
		t.Fatal(err)
	}
	// A tool awaiting approval goes with its upstream (a kept upstream's
	// stays: TestApplyPruneRemovesAWithheldTool).
	if diff := cmp.Diff([]string{"- upstream crm", "- upstream files", "- tool crm_lookup", "- tool offered", "- tool refund"}, planLines(plan)); diff != "" {
		t.Errorf("prune plan (-want +got):\n%s", diff)
	}
	if _, err := st.Clients().Get(ctx, "dyn"); err != nil {
		t.Errorf("prune removed a registered client: %v", err)
	}
	if _, err := st.Tools().Get(ctx, "offered"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("prune kept a tool awaiting approval of an upstream it removed: %v", err)
	}
}

// failingSecrets fails on the nth hash, to break an apply half-way.
type failingSecrets struct{ n int }

func (f *failingSecrets) Hash(s string) (string, error) {
	f.n--
	if f.n <= 0 {
		return "", errors.New("hash failed")
	}
	return config.Argon2.Hash(s)
}
func (f *failingSecrets) Verify(s, h string) bool { return config.Argon2.Verify(s, h) }

func TestApplyIsOneTransaction(t *testing.T) {
	st := storetest.OpenSQLite(t)
	ctx := context.Background()
	f, err := config.Load("testdata/acme.yaml", builtins)
	if err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, st)
	// The client secret hashes first, the user password second: the apply
	// fails after roles, upstreams, clients and tools were written.
	if _, err := config.Apply(ctx, st, f, &failingSecrets{n: 2}, nil); err == nil {
		t.Fatal("apply succeeded")
	}
	if diff := cmp.Diff(before, snapshot(t, st)); diff != "" {
		t.Errorf("a failed apply left changes (-before +after):\n%s", diff)
	}
}

// applySource parses and validates src and applies it to st, failing the
// test on any error, and returns the plan's lines.
func applySource(t *testing.T, st store.Store, src string) []string {
	t.Helper()
	f, err := parse(t, src)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := config.Apply(context.Background(), st, f, config.Argon2, nil)
	if err != nil {
		t.Fatal(err)
	}
	return planLines(plan)
}

func planLines(p config.Plan) []string {
	var out []string
	for _, c := range p {
		out = append(out, c.String())
	}
	return out
}

func snapshot(t *testing.T, st store.Store) map[string]int {
	ctx := context.Background()
	u, _ := st.Users().List(ctx)
	r, _ := st.Roles().List(ctx)
	c, _ := st.Clients().List(ctx)
	tl, _ := st.Tools().List(ctx)
	up, _ := st.Upstreams().List(ctx)
	rev, _ := st.Revision(ctx)
	return map[string]int{"users": len(u), "roles": len(r), "clients": len(c), "tools": len(tl), "upstreams": len(up), "revision": int(rev)}
}

// dumpStore returns every record of the store as text.
func dumpStore(t *testing.T, st store.Store) string {
	t.Helper()
	ctx := context.Background()
	var b strings.Builder
	add := func(v any, err error) {
		if err != nil {
			t.Fatal(err)
		}
		j, _ := json.Marshal(v)
		b.Write(j)
	}
	add(st.Users().List(ctx))
	add(st.Clients().List(ctx))
	add(st.Tools().List(ctx))
	add(st.Roles().List(ctx))
	add(st.Upstreams().List(ctx))
	return b.String()
}

func mustNil(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestUpstreamCallTimeout: call_timeout is a duration within bounds; it
// reaches the store (with env), and a change of it is planned as such.
func TestUpstreamCallTimeout(t *testing.T) {
	_, err := parse(t, `tenant: acme
upstreams:
  - name: a
    command: [a-server]
    call_timeout: soon
  - name: b
    command: [b-server]
    call_timeout: 10ms
`)
	got := problems(t, err)
	want := []string{
		`t.yaml:5: upstreams[0].call_timeout: "soon" is not a duration (say 90s, 10m or 1h)`,
		`t.yaml:8: upstreams[1].call_timeout: 10ms is out of bounds: between 1s and 24h0m0s`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}

	st := storetest.OpenSQLite(t)
	ctx := context.Background()
	apply := func(limit string) []string {
		t.Helper()
		return applySource(t, st, "tenant: acme\nupstreams:\n  - name: a\n    command: [a-server]\n    env: [A_TOKEN]\n    call_timeout: "+limit+"\n")
	}
	apply("90s")
	if u, err := st.Upstreams().Get(ctx, "a"); err != nil || u.CallTimeout != 90*time.Second || !slices.Equal(u.Env, []string{"A_TOKEN"}) {
		t.Fatalf("stored: %+v, %v", u, err)
	}
	if lines := apply("2m"); !slices.Contains(lines, "~ upstream a (call_timeout)") {
		t.Errorf("plan of the change: %q", lines)
	}
	if u, _ := st.Upstreams().Get(ctx, "a"); u.CallTimeout != 2*time.Minute {
		t.Errorf("stored after the change: %v", u.CallTimeout)
	}
}

// TestOwnSettingsNeverPassedOn: a header an upstream gets and a
// connection's client secret are never read from one of Gatehouse's own
// settings (GATEHOUSE_*: the master key, the webhook secret, the database
// URL), as a stdio upstream's environment never is: the tenant file would
// send them to a third party.
func TestOwnSettingsNeverPassedOn(t *testing.T) {
	for name, src := range map[string]string{
		"headers_env": `tenant: acme
upstreams:
  - name: files
    url: https://files.example/mcp
    headers_env: {X-Api-Key: GATEHOUSE_MASTER_KEY}
`,
		"client_secret_env": `tenant: acme
connections:
  - name: corp
    issuer: https://corp.example
    client_id: gatehouse
    client_secret_env: gatehouse_audit_webhook_secret
`,
	} {
		if _, err := parse(t, src); err == nil || !strings.Contains(err.Error(), "never passed on") {
			t.Errorf("%s naming a GATEHOUSE_ variable: %v", name, err)
		}
	}
}

// TestOneDocument: a tenant file with a second YAML document (after a
// line ---, as two files put together have) is refused, naming the line;
// before, everything after the first document was dropped without a word.
// A document marker at the start, or one empty document after, is fine.
func TestOneDocument(t *testing.T) {
	_, err := parse(t, "tenant: acme\nusers:\n  - username: alice\n---\nusers:\n  - username: carol\n")
	if err == nil || !strings.Contains(err.Error(), "more than one YAML document") || !strings.Contains(err.Error(), ":4:") {
		t.Errorf("two documents: %v", err)
	}
	for _, src := range []string{"---\ntenant: acme\n", "tenant: acme\n...\n"} {
		if _, err := parse(t, src); err != nil {
			t.Errorf("%q: %v", src, err)
		}
	}
}

// TestInputSchemaMustCompile: an input_schema the gateway could not check
// arguments with (a pattern that is no regular expression, a bound that
// YAML reads as a string) is a problem of the tenant file, naming the tool
// and saying what is wrong in JSON Schema's terms; before, apply took it
// and the gateway then withheld the tool from the people granted it.
func TestInputSchemaMustCompile(t *testing.T) {
	for schema, want := range map[string]string{
		`{type: object, properties: {x: {type: string, pattern: "("}}}`:   "pattern",
		`{type: object, properties: {x: {type: number, maximum: 1e400}}}`: "maximum must be a number",
	} {
		src := "tenant: acme\ntools:\n  - name: t\n    builtin: sales_report\n    input_schema: " + schema + "\n"
		_, err := parse(t, src)
		if err == nil || !strings.Contains(err.Error(), "tools[0].input_schema") || !strings.Contains(err.Error(), want) ||
			strings.Contains(err.Error(), "Go ") || strings.Contains(err.Error(), "float64") || strings.Contains(err.Error(), "schemaWithoutMethods") || strings.Contains(err.Error(), "jsonschema.") {
			t.Errorf("%s: %v, want a problem naming %q", schema, err, want)
		}
	}
	if _, err := parse(t, "tenant: acme\ntools:\n  - name: t\n    builtin: sales_report\n    input_schema: {type: object, properties: {x: {type: string, pattern: \"^a+$\"}}}\n"); err != nil {
		t.Errorf("a good schema: %v", err)
	}
}

// TestDesignExampleApplies: the tenant file the design shows as the
// format's contract applies as written. Its refund tool is granted to a
// role (support) that its roles: does not declare: apply creates it, with
// no description, and a second apply changes nothing.
func TestDesignExampleApplies(t *testing.T) {
	st := storetest.OpenSQLite(t)
	ctx := context.Background()
	f, err := config.Load("testdata/design.yaml", builtins)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := config.Apply(ctx, st, f, config.Argon2, nil)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, c := range plan {
		lines = append(lines, c.String())
	}
	want := []string{
		"+ setting tenant", "+ role admin", "+ role sales-manager", "+ role support",
		"+ upstream crm", "+ upstream files", "+ client acme-assistant", "+ client billing-api",
		"+ tool sales_report", "+ tool crm_lookup", "+ tool refund", "+ user alice",
	}
	if diff := cmp.Diff(want, lines); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
	if again, err := config.Apply(ctx, st, f, config.Argon2, nil); err != nil || len(again) != 0 {
		t.Errorf("second apply: %v %v", again, err)
	}
	refund, err := st.Tools().Get(ctx, "refund")
	if err != nil || !slices.Equal(refund.Roles, []string{"support"}) {
		t.Errorf("refund: %+v %v", refund, err)
	}
	svc, _ := st.Clients().Get(ctx, "billing-api")
	if !config.Argon2.Verify("a long random secret", svc.SecretHash) {
		t.Errorf("client secret not hashed")
	}
	// A person's role must still be declared or granted a tool: a
	// misspelt one is an error, not a new role.
	f.Users[0].Roles = []string{"sales-manger"}
	if err := f.Validate(builtins); err == nil || !strings.Contains(err.Error(), `unknown role "sales-manger"`) {
		t.Errorf("a person's misspelt role: %v", err)
	}
}
