package identity

import (
	"testing"

	"github.com/gatehouse/gatehouse/internal/audit"
)

// TestRefusedExchangeIsRecorded: an agent holding a person's token and
// asking to act for them without their consent is refused, and the trail
// says so (token.exchanged, refused): which agent, for whom, from which
// login session and subject token, and why. Without the record an agent
// probing for the people it may act for leaves no trace.
func TestRefusedExchangeIsRecorded(t *testing.T) {
	h := newHarness(t)
	user := h.userTokens()
	subj := claims(t, user.Access)
	if r := h.token("agent", "agent-secret", exchangeForm(user.Access)); r.Status != 400 || r.Error != "invalid_grant" {
		t.Fatalf("exchange without consent: %d %v", r.Status, r.JSON)
	}
	ev, ok := h.audit.last(audit.TokenExchanged)
	if !ok {
		t.Fatalf("no token.exchanged record of the refused exchange; recorded %v", h.audit.types())
	}
	if ev.Status != "refused" || ev.Decision != "deny" || ev.Agent != "agent" || ev.Actor != "alice" ||
		ev.Session != subj["sid"] || ev.TokenID != "" || ev.Detail["subject_token_id"] != subj["jti"] ||
		ev.Detail["error"] != "invalid_grant" || ev.Detail["reason"] == nil || ev.RemoteAddr == "" {
		t.Errorf("refused exchange recorded as %+v", ev)
	}

	// A subject token that does not verify names no one: the record says
	// only which agent tried, and why.
	if r := h.token("agent", "agent-secret", exchangeForm("a.b.c")); r.Error != "invalid_grant" {
		t.Fatalf("garbage subject: %v", r.JSON)
	}
	ev, _ = h.audit.last(audit.TokenExchanged)
	if ev.Status != "refused" || ev.Agent != "agent" || ev.Actor != "" || ev.Session != "" || ev.Detail["subject_token_id"] != nil {
		t.Errorf("refused exchange of an unverified subject recorded as %+v", ev)
	}

	// A client that may not exchange at all is recorded too.
	if r := h.token("web", "web-secret", exchangeForm(user.Access)); r.Error != "unauthorized_client" {
		t.Fatalf("web client: %v", r.JSON)
	}
	if ev, _ = h.audit.last(audit.TokenExchanged); ev.Agent != "web" || ev.Status != "refused" {
		t.Errorf("refused exchange by a web client recorded as %+v", ev)
	}
}
