package admin_test

import (
	"testing"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/identity"
	"github.com/gatehouse/gatehouse/internal/identity/accesstoken"
	"github.com/gatehouse/gatehouse/internal/store"
)

// A person without the admin role can have a token for the admin API
// (they consent to it themselves, through a client they registered), and
// each request with it was an admin.denied record: a commit of the trail
// per request, without end. The refusals are now counted against the
// address's bound of recorded refusals, the identity provider's
// (CountRefusal): within it recorded as before, the one past it recorded
// marked throttled, and further ones answered 429 and not recorded.
func TestRefusedAdminFloodIsBoundedPerAddress(t *testing.T) {
	const limit, flood = 3, 25
	ta, root := startAPI(t)
	ctx := t.Context()
	st, ok := ta.store.(identity.Store)
	if !ok {
		t.Fatalf("the test store %T counts nothing", ta.store)
	}
	idp := &identity.Provider{Store: st, MaxFailuresPerIP: limit}
	ta.api.CountRefusal = idp.CountRefusal
	if err := ta.store.Users().Create(ctx, store.User{Username: "mallory", Roles: []string{"sales"}}); err != nil {
		t.Fatal(err)
	}
	mallory := ta.token(t, accesstoken.Claims{Subject: "mallory", ClientID: "admin-script", GrantID: "grant-m", SessionID: "sess-m"})
	for i := range flood {
		status, body := ta.get(t, "/admin/api/audit", mallory)
		if i < limit && status != 403 || i >= limit && status != 429 {
			t.Fatalf("request %d: %d %s", i+1, status, body)
		}
	}
	page, err := ta.api.Audit.Query(ctx, audit.Filter{Types: []string{audit.AdminDenied}})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Entries) != limit+1 {
		t.Fatalf("%d refused requests wrote %d admin.denied records, want %d", flood, len(page.Entries), limit+1)
	}
	if ev := page.Entries[limit].Event; ev.Detail["throttled"] != true || ev.Actor != "mallory" {
		t.Errorf("the record of the refusal that reached the bound: %+v", ev)
	}
	// An admin from the same address is served.
	if status, body := ta.get(t, "/admin/api/audit", root); status != 200 {
		t.Errorf("root from the same address: %d %s", status, body)
	}
}
