package admin_test

import (
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/identity/accesstoken"
	"github.com/gatehouse/gatehouse/internal/store"
)

// TestRefusedAdminIsRecorded: a person whose token is good and stands,
// but who does not hold the admin role, is refused the admin API (403)
// and the refusal is in the trail: who, through which client, which
// endpoint, and why; a security team looks for exactly these attempts.
// Before, the trail had nothing of them. A request with no token, or a
// bad one, names no one and is not recorded.
func TestRefusedAdminIsRecorded(t *testing.T) {
	ta, root := startAPI(t)
	ctx := t.Context()
	if err := ta.store.Users().Create(ctx, store.User{Username: "mallory", Roles: []string{"sales"}}); err != nil {
		t.Fatal(err)
	}
	mallory := ta.token(t, accesstoken.Claims{Subject: "mallory", ClientID: "admin-script", GrantID: "grant-m", SessionID: "sess-m"})
	if status, body := ta.get(t, "/admin/api/audit?actor=root", mallory); status != 403 {
		t.Fatalf("mallory: %d %s", status, body)
	}
	if status, _ := ta.get(t, "/admin/api/audit", "not-a-token"); status != 401 {
		t.Fatalf("a bad token: %d", status)
	}
	if status, body := ta.get(t, "/admin/api/audit?type="+audit.AdminDenied, root); status != 200 {
		t.Fatalf("root: %d %s", status, body)
	}
	page, err := ta.api.Audit.Query(ctx, audit.Filter{Types: []string{audit.AdminDenied}})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Entries) != 1 {
		t.Fatalf("%d refusals recorded, want mallory's one", len(page.Entries))
	}
	ev := page.Entries[0].Event
	if ev.Actor != "mallory" || ev.Agent != "admin-script" || ev.Session != "sess-m" || ev.Decision != "deny" ||
		ev.Detail["path"] != "/admin/api/audit" || len(ev.Reasons) != 1 || !strings.Contains(ev.Reasons[0], "admin role") {
		t.Errorf("the refusal recorded as %+v", ev)
	}
	if strings.Contains(string(page.Entries[0].Raw), mallory) {
		t.Error("the record holds the token")
	}
}
