package cli_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// record is one exported audit record, as much of it as these tests read.
type record struct {
	Event struct {
		Type, Actor string
		Detail      struct {
			Op, Kind, Name string
			Fields         []string
			Before, After  map[string]any
			Retired        []map[string]string
			Active         []map[string]string
		}
	}
}

// exported runs 'audit export --type typ' on data and returns the raw
// output and its records.
func exported(t *testing.T, data, typ string) (string, []record) {
	t.Helper()
	out := must(t, run(t, nil, "", "audit", "export", "--type", typ, "--data", data)).stdout
	var recs []record
	for l := range strings.Lines(out) {
		var r record
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("%v: %s", err, l)
		}
		recs = append(recs, r)
	}
	return out, recs
}

// lastChange is the last admin.change record of kind and name.
func lastChange(t *testing.T, data, kind, name string) record {
	t.Helper()
	_, recs := exported(t, data, "admin.change")
	for _, r := range slices.Backward(recs) {
		if r.Event.Detail.Kind == kind && r.Event.Detail.Name == name {
			return r
		}
	}
	t.Fatalf("no admin.change of %s %s", kind, name)
	return record{}
}

// tenantFile writes acme.yaml, edited by the replacements (old, new…),
// plus extra at the end, to a temporary file.
func tenantFile(t *testing.T, extra string, replace ...string) string {
	t.Helper()
	b, err := os.ReadFile(testdata + "acme.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := strings.NewReplacer(replace...).Replace(string(b)) + extra
	p := filepath.Join(t.TempDir(), "acme.yaml")
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSecretChangesAreAudited: a new password is an admin.change that
// names the field that changed, as a tenant file's change of a password
// or client secret does, without showing the secret or its hash (the
// trail redacts a hash, so before and after read the same).
func TestSecretChangesAreAudited(t *testing.T) {
	data := t.TempDir()
	c := func(stdin string, args ...string) result {
		return must(t, run(t, nil, stdin, append(args, "--data", data)...))
	}
	c("", "apply", "-f", testdata+"acme.yaml")
	// An upstream's headers_env names variables, not secrets: the admin
	// sees which header comes from which variable.
	if got := fmt.Sprint(lastChange(t, data, "upstream", "files").Event.Detail.After["headers_env"]); got != "[map[env:FILES_MCP_AUTH header:Authorization]]" {
		t.Errorf("upstream headers_env audited as %s", got)
	}
	c("first-password\n", "user", "add", "dave", "--password-stdin")
	c("second-password", "user", "passwd", "dave") // as from echo -n
	d := lastChange(t, data, "user", "dave").Event.Detail
	if d.Op != "~" || !slices.Equal(d.Fields, []string{"password"}) || d.Before["password_hash"] != "[redacted]" || d.After["password_hash"] != "[redacted]" {
		t.Errorf("user passwd audited as %+v", d)
	}

	c("", "apply", "-f", tenantFile(t, "", `"change me"`, `"changed by the file"`,
		`"a long random secret of 32+ chars"`, `"another long random secret, 32+ chars"`))
	for _, tc := range []struct{ kind, name, field string }{{"client", "billing-api", "secret"}, {"user", "alice", "password"}} {
		if d := lastChange(t, data, tc.kind, tc.name).Event.Detail; d.Op != "~" || !slices.Equal(d.Fields, []string{tc.field}) {
			t.Errorf("%s %s changed by the file audited as %+v", tc.kind, tc.name, d)
		}
	}

	// A credential written into an upstream's command line, which
	// belongs in its environment, does not reach the trail either.
	c("", "upstream", "add", "vault", "--command", "vault-server", "--command", "--api-key=ArgKey-0123",
		"--command", "--token", "--command", "ArgToken-4567")
	if d := lastChange(t, data, "upstream", "vault").Event.Detail; d.Op != "+" || !strings.Contains(fmt.Sprint(d.After["command"]), "--api-key=redacted") {
		t.Errorf("upstream add audited as %+v", d)
	}

	out, _ := exported(t, data, "admin.change")
	for _, secret := range []string{"first-password", "second-password", "changed by the file", "another long random", "$argon2id$", "ArgKey-0123", "ArgToken-4567"} {
		if strings.Contains(out, secret) {
			t.Errorf("%q reached the trail:\n%s", secret, out)
		}
	}
}

// TestKeysRotateIsAudited: 'keys rotate' records keys.rotated naming the
// keys it retires and the new ones that will sign, never their material.
func TestKeysRotateIsAudited(t *testing.T) {
	data := t.TempDir()
	d := []string{"--data", data}
	inState := func(state string) []string {
		var kids []string
		for l := range strings.Lines(must(t, run(t, nil, "", append([]string{"keys", "list"}, d...)...)).stdout) {
			if f := strings.Fields(l); len(f) >= 4 && strings.TrimSuffix(f[3], ",") == state {
				kids = append(kids, f[0])
			}
		}
		slices.Sort(kids)
		return kids
	}
	must(t, run(t, nil, "", append([]string{"role", "add", "auditor"}, d...)...))
	old := inState("active")
	must(t, run(t, nil, "", append([]string{"keys", "rotate"}, d...)...))
	now := inState("pending")

	out, recs := exported(t, data, "keys.rotated")
	if len(recs) != 1 {
		t.Fatalf("%d keys.rotated records, want 1:\n%s", len(recs), out)
	}
	kids := func(ks []map[string]string) []string {
		var out []string
		for _, k := range ks {
			if k["alg"] == "" {
				t.Errorf("key %s recorded without its algorithm", k["kid"])
			}
			out = append(out, k["kid"])
		}
		slices.Sort(out)
		return out
	}
	ev := recs[0].Event
	if !strings.HasPrefix(ev.Actor, "cli") || len(old) != 2 || !slices.Equal(kids(ev.Detail.Retired), old) || !slices.Equal(kids(ev.Detail.Active), now) {
		t.Errorf("keys.rotated = %+v; want retired %v and active %v", ev, old, now)
	}
	for _, k := range ev.Detail.Active {
		if k["from"] == "" {
			t.Errorf("keys.rotated names the new key %s without its activation time", k["kid"])
		}
	}
	for _, material := range []string{"private", `"d"`, `"n"`, `"x"`} {
		if strings.Contains(out, material) {
			t.Errorf("key material (%s) in the trail:\n%s", material, out)
		}
	}
	if v := must(t, run(t, nil, "", append([]string{"audit", "verify"}, d...)...)).stdout; !strings.HasPrefix(v, "OK") {
		t.Errorf("verify: %s", v)
	}
}

// TestRoleRemoveRecordsWhatItTookTheRoleFrom: removing a role takes it
// from users and tools; the record (and the output) names them.
func TestRoleRemoveRecordsWhatItTookTheRoleFrom(t *testing.T) {
	data := t.TempDir()
	c := func(args ...string) result { return must(t, run(t, nil, "", append(args, "--data", data)...)) }
	c("role", "add", "sales")
	c("user", "add", "carol", "--role", "sales")
	c("user", "add", "erin")
	c("tool", "add", "sales_report", "--builtin", "sales_report", "--role", "sales")
	if out := c("role", "remove", "sales").stdout; !strings.Contains(out, "- role sales (taken from user carol, tool sales_report)") {
		t.Errorf("role remove said %q", out)
	}
	d := lastChange(t, data, "role", "sales").Event.Detail
	if d.Op != "-" || d.After != nil || !equalAny(d.Before["users"], "carol") || !equalAny(d.Before["tools"], "sales_report") {
		t.Errorf("role remove audited as %+v", d)
	}
}

// equalAny reports whether v, from JSON, is the list of strings want.
func equalAny(v any, want ...string) bool {
	l, _ := v.([]any)
	if len(l) != len(want) {
		return false
	}
	for i, x := range l {
		if x != want[i] {
			return false
		}
	}
	return true
}

// TestApplySettingChangesAreAudited: a setting (or a federation
// connection, kept in one) changed by a tenant file is recorded before →
// after.
func TestApplySettingChangesAreAudited(t *testing.T) {
	data := t.TempDir()
	c := func(args ...string) result { return must(t, run(t, nil, "", append(args, "--data", data)...)) }
	c("apply", "-f", testdata+"acme.yaml")
	c("apply", "-f", tenantFile(t, "audit:\n  raw_arguments: true\n  retention: 2160h\n"+
		"connections:\n  - name: corp\n    issuer: https://idp.example.com\n    client_id: gatehouse-at-corp\n    client_secret_env: CORP_SECRET\n"))
	d := lastChange(t, data, "setting", "audit.raw_arguments").Event.Detail
	if d.Before != nil || d.After["value"] != "true" || d.After["name"] != "audit.raw_arguments" {
		t.Errorf("raw_arguments on audited as %+v", d)
	}
	d = lastChange(t, data, "connection", "corp").Event.Detail
	if d.Op != "+" || d.Before != nil || d.After["issuer"] != "https://idp.example.com" || d.After["client_id"] != "gatehouse-at-corp" {
		t.Errorf("connection audited as %+v", d)
	}
	c("apply", "-f", testdata+"acme.yaml")
	d = lastChange(t, data, "setting", "audit.raw_arguments").Event.Detail
	if d.Before["value"] != "true" || d.After["value"] != "false" {
		t.Errorf("raw_arguments off audited as %+v", d)
	}
	d = lastChange(t, data, "setting", "audit.retention").Event.Detail
	if d.Before["value"] != "2160h" || d.After["value"] != "" {
		t.Errorf("retention audited as %+v", d)
	}
	d = lastChange(t, data, "connection", "corp").Event.Detail
	if d.Op != "-" || d.Before["name"] != "corp" || d.After != nil {
		t.Errorf("connection removal audited as %+v", d)
	}
}

// TestURLCredentialsNeverReachTheTrail: a password in an upstream's URL
// is refused (as in the tenant file) without being repeated, and a
// secret-looking query parameter in an upstream's or an HTTP tool's URL is
// redacted in the admin.change.
func TestURLCredentialsNeverReachTheTrail(t *testing.T) {
	data := t.TempDir()
	c := func(args ...string) result { return must(t, run(t, nil, "", append(args, "--data", data)...)) }
	r := run(t, nil, "", "upstream", "add", "files", "--url", "http://user:UrlPassw0rd@127.0.0.1:19437/mcp", "--data", data)
	if r.code != 1 || !strings.Contains(r.stderr, "credentials do not belong in the URL") || strings.Contains(r.stderr+r.stdout, "UrlPassw0rd") {
		t.Errorf("a password in the URL: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	c("upstream", "add", "files", "--url", "http://127.0.0.1:19437/mcp?api_key=QueryKey123&tenant=acme")
	c("tool", "add", "refund", "--http-method", "POST", "--http-url", "http://127.0.0.1:9200/refund?access_token=T0kenValue")
	if got := lastChange(t, data, "upstream", "files").Event.Detail.After["url"]; got != "http://127.0.0.1:19437/mcp?api_key=redacted&tenant=acme" {
		t.Errorf("upstream url audited as %v", got)
	}
	http, _ := lastChange(t, data, "tool", "refund").Event.Detail.After["http"].(map[string]any)
	if http["url"] != "http://127.0.0.1:9200/refund?access_token=redacted" {
		t.Errorf("tool url audited as %v", http["url"])
	}
	out, _ := exported(t, data, "admin.change")
	for _, secret := range []string{"UrlPassw0rd", "QueryKey123", "T0kenValue"} {
		if strings.Contains(out, secret) {
			t.Errorf("%s reached the trail:\n%s", secret, out)
		}
	}
	// Nor the listings, which show where each one goes.
	c("upstream", "add", "vault", "--command", "vault-server", "--command", "--api-key=ArgKey-0123")
	lists := c("upstream", "list").stdout + c("tool", "list").stdout
	for _, secret := range []string{"QueryKey123", "T0kenValue", "ArgKey-0123"} {
		if strings.Contains(lists, secret) {
			t.Errorf("%s shown in a listing:\n%s", secret, lists)
		}
	}
	for _, shown := range []string{"api_key=redacted&tenant=acme", "access_token=redacted", "--api-key=redacted"} {
		if !strings.Contains(lists, shown) {
			t.Errorf("the listings do not show %q:\n%s", shown, lists)
		}
	}
}

// TestAuditFiltersThatMatchNothingAreRefused: an unknown event type, an
// empty time window and a count tail cannot honour are mistakes, said so,
// not an empty answer.
func TestAuditFiltersThatMatchNothingAreRefused(t *testing.T) {
	data := t.TempDir()
	must(t, run(t, nil, "", "role", "add", "auditor", "--data", data))
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"export", "--type", "bogus"}, `--type "bogus": no such event type (known: login.succeeded,`},
		{[]string{"tail", "--type", "admin.change", "--type", "admin.chnage"}, `"admin.chnage": no such event type`},
		{[]string{"export", "--since", "2026-01-02T00:00:00Z", "--until", "2026-01-01T00:00:00Z"}, "--since 2026-01-02T00:00:00Z is not before until 2026-01-01T00:00:00Z"},
		{[]string{"tail", "-n", "-1"}, "-n -1: want 0 to 1000"},
		{[]string{"tail", "-n", "5000"}, "-n 5000: want 0 to 1000 (for more, use 'gatehouse audit export')"},
	} {
		r := run(t, nil, "", append(append([]string{"audit"}, tc.args...), "--data", data)...)
		if r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 1 and %q", tc.args, r.code, r.stdout, r.stderr, tc.want)
		}
	}
	if r := must(t, run(t, nil, "", "audit", "tail", "-n", "1000", "--type", "admin.change", "--since", "1h", "--data", data)); strings.Count(r.stdout, "\n") != 1 {
		t.Errorf("tail -n 1000: %q", r.stdout)
	}
}

// TestAuditCommandsNeedAStore: the audit commands refuse a data folder
// that holds no store, and create nothing in it.
func TestAuditCommandsNeedAStore(t *testing.T) {
	for _, cmd := range [][]string{{"verify"}, {"export"}, {"tail"}, {"trace", "c1"}, {"checkpoints"}} {
		for _, dir := range []string{filepath.Join(t.TempDir(), "nonexistent"), t.TempDir()} {
			r := run(t, nil, "", append(append([]string{"audit"}, cmd...), "--data", dir)...)
			if r.code != 1 || !strings.Contains(r.stderr, "holds no Gatehouse store") || strings.Contains(r.stdout, "OK") {
				t.Errorf("audit %v in %s: exit %d, %q %q", cmd, dir, r.code, r.stdout, r.stderr)
			}
			if entries, _ := os.ReadDir(dir); len(entries) > 0 {
				t.Errorf("audit %v created %v in %s", cmd, entries, dir)
			}
		}
	}

	// A store whose master key is elsewhere: refused without GATEHOUSE_MASTER_KEY
	// (a new key would be made), verified with it.
	data := t.TempDir()
	must(t, run(t, nil, "", "role", "add", "auditor", "--data", data))
	key, err := os.ReadFile(filepath.Join(data, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(data, "master.key"))
	r := run(t, nil, "", "audit", "verify", "--data", data)
	if r.code != 1 || !strings.Contains(r.stderr, "GATEHOUSE_MASTER_KEY") {
		t.Errorf("verify without the master key: exit %d, %q", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(data, "master.key")); err == nil {
		t.Errorf("verify made a new master key")
	}
	if v := must(t, run(t, map[string]string{"GATEHOUSE_MASTER_KEY": strings.TrimSpace(string(key))}, "", "audit", "verify", "--data", data)).stdout; !strings.HasPrefix(v, "OK: 1 records") {
		t.Errorf("verify with GATEHOUSE_MASTER_KEY: %s", v)
	}
}

// TestUpstreamCommandSecretsRedacted: an upstream's command line as the
// admin.change record keeps it (before → after) carries no secret passed
// as --env=NAME=VALUE or in an API-key header, as it carries none passed as
// --token VALUE, NAME=VALUE or Authorization: ….
func TestUpstreamCommandSecretsRedacted(t *testing.T) {
	data := t.TempDir()
	must(t, run(t, nil, "", "upstream", "add", "gh", "--data", data,
		"--command", "docker", "--command", "run", "--command", "--env=GITHUB_PERSONAL_ACCESS_TOKEN=ghp_SECRET1",
		"--command", "ghcr.io/github/github-mcp-server"))
	must(t, run(t, nil, "", "upstream", "add", "remote", "--data", data,
		"--command", "npx", "--command", "mcp-remote", "--command", "https://mcp.example/mcp",
		"--command", "--header", "--command", "X-API-Key: SECRET2"))
	out, _ := exported(t, data, "admin.change")
	for _, s := range []string{"ghp_SECRET1", "SECRET2"} {
		if strings.Contains(out, s) {
			t.Errorf("the admin.change record keeps the secret %s:\n%s", s, out)
		}
	}
	if !strings.Contains(out, "GITHUB_PERSONAL_ACCESS_TOKEN=redacted") || !strings.Contains(out, "X-API-Key: redacted") {
		t.Errorf("the admin.change records do not show what was redacted:\n%s", out)
	}
}
