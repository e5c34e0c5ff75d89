package cli_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"
)

// TestAdminChangesAreAuditedAndVerifiable: every admin command that changes
// the tenant leaves an admin.change with before and after, no secret in it;
// 'audit verify' passes, then fails naming the record once a row is edited.
func TestAdminChangesAreAuditedAndVerifiable(t *testing.T) {
	data := t.TempDir()
	d := []string{"--data", data}
	c := func(stdin string, args ...string) result { return must(t, run(t, nil, stdin, append(args, d...)...)) }
	c("", "apply", "-f", testdata+"acme.yaml")
	c("", "role", "add", "auditor")
	c("pw-that-must-not-leak\n", "user", "add", "dora", "--password-stdin", "--role", "auditor")
	c("", "user", "revoke", "dora", "auditor")
	c("", "user", "list") // a read: no record

	out := c("", "audit", "export", "--type", "admin.change").stdout
	lines := strings.Split(strings.TrimSpace(out), "\n")
	// The file's 12 changes, then role add, user add, user revoke.
	if len(lines) != 15 {
		t.Fatalf("%d admin.change records, want 15:\n%s", len(lines), out)
	}
	var last struct {
		Event struct {
			Type, Actor string
			Detail      struct {
				Op, Kind, Name string
				Before, After  map[string]any
			}
		}
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil {
		t.Fatal(err)
	}
	ev := last.Event
	if ev.Type != "admin.change" || !strings.HasPrefix(ev.Actor, "cli") || ev.Detail.Op != "~" || ev.Detail.Kind != "user" ||
		ev.Detail.Name != "dora" || ev.Detail.Before["roles"] == nil || ev.Detail.After["roles"] != nil {
		t.Errorf("last admin change: %+v", ev)
	}
	if strings.Contains(out, "pw-that-must-not-leak") || strings.Contains(out, "$argon2id$") || strings.Contains(out, "a long random secret of 32+ chars") {
		t.Errorf("a secret or its hash reached the trail:\n%s", out)
	}
	if !strings.Contains(out, "[redacted]") {
		t.Errorf("password hash not shown as redacted")
	}
	tail := c("", "audit", "tail", "-n", "3").stdout
	if n := strings.Count(tail, "\n"); n != 3 || !strings.Contains(tail, "admin.change") {
		t.Errorf("tail -n 3:\n%s", tail)
	}
	if v := c("", "audit", "verify").stdout; !strings.HasPrefix(v, "OK: 15 records") {
		t.Errorf("verify: %s", v)
	}

	// Edit one record behind Gatehouse's back.
	db, err := sql.Open("sqlite", filepath.Join(data, "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(context.Background(), `UPDATE audit_log SET event = replace(event, 'dora', 'mallory') WHERE seq = 14`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	r := run(t, nil, "", append([]string{"audit", "verify"}, d...)...)
	if r.code != 1 || !strings.Contains(r.stdout, "BROKEN") || !strings.Contains(r.stdout, "seq 14") {
		t.Errorf("verify after tampering: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
