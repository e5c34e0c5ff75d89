package identity

import (
	"bytes"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/store"
)

// syncBuffer is a bytes.Buffer that handlers may write from several
// requests at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestFederatedSignInGivesOnlyRolesThatExist: a connection whose
// configuration still names roles removed since (by `role remove` on
// another host, before this replica reloaded it) gives none of them: the
// person signs in with the roles that exist, and the log and the
// sign-in's audit record name those left out (the tenant's role names;
// no claim value, no secret). A role created again under the name is
// given by the next sign-in the configuration maps it for: existence is
// decided at each sign-in, not remembered. Default roles are decided on
// the first sign-in only, and only it reports one left out.
func TestFederatedSignInGivesOnlyRolesThatExist(t *testing.T) {
	var logs syncBuffer
	h, up := fedHarness(t, func(p *Provider) { p.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	ctx := t.Context()
	for _, r := range []string{"sales-manager", "staff"} {
		if err := h.db.Roles().Delete(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	// groups Sales (→ sales-manager, gone), Everyone (unmapped); default
	// staff (gone).
	body(t, fedSignIn(t, h, h.browser(), authParams()))
	u, err := h.db.Users().Get(ctx, "okta:00u1")
	if err != nil || len(u.Roles) != 0 || u.Attributes[attrIdPRoles] != "" {
		t.Fatalf("first sign-in stored %+v %v, want no role", u, err)
	}
	ev, ok := h.audit.last(audit.LoginSucceeded)
	if !ok || !equalStrings(ev.Detail["roles_not_granted"], "sales-manager", "staff") {
		t.Errorf("login.succeeded detail %v, want roles_not_granted [sales-manager staff]", ev.Detail)
	}
	l := logs.String()
	if !strings.Contains(l, "were not granted") || !strings.Contains(l, "connection=okta") ||
		!strings.Contains(l, "sales-manager") || !strings.Contains(l, "staff") {
		t.Errorf("no warning names the roles left out:\n%s", l)
	}
	if strings.Contains(l, "up-secret") || strings.Contains(l, "up-at") {
		t.Errorf("the log holds the upstream's secret or token:\n%s", l)
	}

	// Admins → admin, which exists; Sales still maps to a role that does not.
	up.set(func(u *fakeUpstream) { u.claims["groups"] = []any{"Sales", "Admins"} })
	body(t, fedSignIn(t, h, h.browser(), authParams()))
	u, _ = h.db.Users().Get(ctx, "okta:00u1")
	if !slices.Equal(u.Roles, []string{"admin"}) || u.Attributes[attrIdPRoles] != "admin" {
		t.Errorf("second sign-in: roles %v, idp_roles %q; want [admin]", u.Roles, u.Attributes[attrIdPRoles])
	}
	if ev, _ := h.audit.last(audit.LoginSucceeded); !equalStrings(ev.Detail["roles_not_granted"], "sales-manager") {
		t.Errorf("second login.succeeded detail %v, want roles_not_granted [sales-manager] (a default role is for the first sign-in)", ev.Detail)
	}

	createRoles(t, h, "sales-manager")
	body(t, fedSignIn(t, h, h.browser(), authParams()))
	u, _ = h.db.Users().Get(ctx, "okta:00u1")
	if !slices.Equal(u.Roles, []string{"admin", "sales-manager"}) {
		t.Errorf("sign-in once sales-manager exists: roles %v", u.Roles)
	}
	if ev, _ := h.audit.last(audit.LoginSucceeded); ev.Detail["roles_not_granted"] != nil {
		t.Errorf("a sign-in that left nothing out records roles_not_granted %v", ev.Detail["roles_not_granted"])
	}
}

// equalStrings reports whether v (a []string, or a list from JSON) holds
// want, in order.
func equalStrings(v any, want ...string) bool {
	switch l := v.(type) {
	case []string:
		return slices.Equal(l, want)
	case []any:
		got := make([]string, 0, len(l))
		for _, x := range l {
			s, _ := x.(string)
			got = append(got, s)
		}
		return slices.Equal(got, want)
	}
	return false
}

// TestFederatedRolesGoWithTheRolesClaim: a connection that no longer maps
// roles (its roles_claim, and with it its role_map, removed from the
// tenant) takes the roles earlier sign-ins mapped from the person at
// their next sign-in through it, as a role_map that no longer lists a
// role does: they were the upstream's to give, and the upstream is no
// longer asked. Roles assigned here, and the default roles of the first
// sign-in, stay.
func TestFederatedRolesGoWithTheRolesClaim(t *testing.T) {
	h, _ := fedHarness(t)
	ctx := t.Context()
	body(t, fedSignIn(t, h, h.browser(), authParams()))
	createRoles(t, h, "auditor")
	if err := h.db.Users().Update(ctx, "okta:00u1", func(u store.User) (store.User, error) {
		u.Roles = append(u.Roles, "auditor")
		return u, nil
	}); err != nil {
		t.Fatal(err)
	}
	c := h.p.connections()[0]
	if err := h.p.SetConnections([]*Connection{{Name: c.Name, DisplayName: c.DisplayName, Issuer: c.Issuer, ClientID: c.ClientID,
		ClientSecret: c.ClientSecret, DefaultRoles: c.DefaultRoles}}); err != nil {
		t.Fatal(err)
	}
	body(t, fedSignIn(t, h, h.browser(), authParams()))
	u, _ := h.db.Users().Get(ctx, "okta:00u1")
	if !slices.Equal(u.Roles, []string{"auditor", "staff"}) || u.Attributes[attrIdPRoles] != "" {
		t.Errorf("after roles_claim was removed: roles %v, idp_roles %q; want [auditor staff], none",
			u.Roles, u.Attributes[attrIdPRoles])
	}
}

// TestFederatedRolesHeldHereStayWhenAlsoMapped: a role a person holds
// here — a default role of their first sign-in, or one an admin
// assigned — stays when the upstream group that also maps to it is gone:
// the mapping never gave it, so it is not the mapping's to take. Before,
// a default role that a group also mapped (staff, for Everyone) went with
// the group, and so did an assigned role the group came to map.
func TestFederatedRolesHeldHereStayWhenAlsoMapped(t *testing.T) {
	h, up := fedHarness(t, func(p *Provider) {
		p.Connections[0].RoleMap["Everyone"] = []string{"staff"}
		p.Connections[0].RoleMap["Auditors"] = []string{"auditor"}
	})
	createRoles(t, h, "auditor")
	ctx := t.Context()
	body(t, fedSignIn(t, h, h.browser(), authParams())) // groups Sales, Everyone
	if err := h.db.Users().Update(ctx, "okta:00u1", func(u store.User) (store.User, error) {
		u.Roles = append(u.Roles, "auditor") // assigned here
		return u, nil
	}); err != nil {
		t.Fatal(err)
	}
	up.mu.Lock()
	up.claims["groups"] = []any{"Sales", "Everyone", "Auditors"}
	up.mu.Unlock()
	body(t, fedSignIn(t, h, h.browser(), authParams()))
	up.mu.Lock()
	up.claims["groups"] = []any{"Sales"}
	up.mu.Unlock()
	body(t, fedSignIn(t, h, h.browser(), authParams()))
	u, err := h.db.Users().Get(ctx, "okta:00u1")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"auditor", "sales-manager", "staff"}; !slices.Equal(u.Roles, want) {
		t.Errorf("roles %v after Everyone and Auditors were gone, want %v", u.Roles, want)
	}
}
