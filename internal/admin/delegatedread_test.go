package admin_test

import (
	"slices"
	"testing"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/identity/accesstoken"
	"github.com/gatehouse/gatehouse/internal/store"
)

// TestDelegatedReadNamesTheChain: an agent acting for root (a token
// exchanged from root's, RFC 8693 act) reads the trail; the read's record
// names root, the agent and whom the agent acted through, as a tool call's
// record does. Before, it named root and the agent only.
func TestDelegatedReadNamesTheChain(t *testing.T) {
	ta, _ := startAPI(t)
	ctx := t.Context()
	if err := ta.store.Clients().Create(ctx, store.Client{ClientID: "ops-agent", Kind: store.KindAgent}); err != nil {
		t.Fatal(err)
	}
	tok := ta.token(t, accesstoken.Claims{Subject: "root", ClientID: "ops-agent", GrantID: "grant-1",
		Act: &accesstoken.Actor{Sub: "ops-agent", ClientID: "ops-agent", Act: &accesstoken.Actor{Sub: "admin-script", ClientID: "admin-script"}}})
	if status, body := ta.get(t, "/admin/api/audit/streams", tok); status != 200 {
		t.Fatalf("delegated read: %d %s", status, body)
	}
	page, err := ta.api.Audit.Query(ctx, audit.Filter{Types: []string{audit.AuditRead}})
	if err != nil || len(page.Entries) == 0 {
		t.Fatalf("audit.read records: %v %v", page, err)
	}
	ev := page.Entries[len(page.Entries)-1].Event
	if ev.Actor != "root" || ev.Agent != "ops-agent" || !slices.Equal(ev.Chain, []string{"ops-agent", "admin-script"}) {
		t.Errorf("the delegated read recorded as %+v", ev)
	}
}
