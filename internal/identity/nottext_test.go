package identity

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/audit"
)

// notText are identifiers PostgreSQL cannot compare with a text column: a
// NUL byte and invalid UTF-8. Anyone can send them.
var notText = []string{"web\x00", "web\xff"}

// TestClientIDNotTextIsUnknown: a client_id that is not text is an unknown
// client, not a store failure answered 500 and logged as an error, which
// anyone could repeat without end (and which would page an operator).
func TestClientIDNotTextIsUnknown(t *testing.T) {
	var logs bytes.Buffer
	h := newHarness(t, func(p *Provider) { p.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	for _, id := range notText {
		if r := h.token(id, "web-secret", url.Values{"grant_type": {"client_credentials"}}); r.Status != http.StatusUnauthorized || r.Error != "invalid_client" {
			t.Errorf("token, Basic %q: %d %v", id, r.Status, r.JSON)
		}
		if r := h.token("", "", url.Values{"grant_type": {"authorization_code"}, "client_id": {id}, "code": {"x"}}); r.Status != http.StatusUnauthorized || r.Error != "invalid_client" {
			t.Errorf("token, form %q: %d %v", id, r.Status, r.JSON)
		}
		resp, err := h.browser().Get(h.url("/authorize?" + url.Values{"client_id": {id}, "response_type": {"code"}}.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		if body(t, resp); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("authorize %q: %d", id, resp.StatusCode)
		}
	}
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("logged as errors:\n%s", logs.String())
	}
}

// TestLoginUsernameNotTextIsThrottled: a username that is not text is a
// malformed sign-in, counted against the address like any other; before,
// on PostgreSQL, its counter could not be read, so each one was logged as
// an error and recorded in the trail, past the address's limit, without
// end.
func TestLoginUsernameNotTextIsThrottled(t *testing.T) {
	var logs bytes.Buffer
	h := newHarness(t, func(p *Provider) {
		p.MaxFailuresPerIP = 3
		p.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	for i := range 6 {
		body(t, h.login(h.browser(), notText[i%2], "wrong", nil))
	}
	var reasons []string
	for _, e := range h.audit.events {
		if e.Type == audit.LoginFailed {
			reasons = append(reasons, e.Detail["reason"].(string))
		}
	}
	if strings.Join(reasons, " ") != "malformed malformed malformed throttled" {
		t.Errorf("recorded %v, want 3 malformed and 1 throttled", reasons)
	}
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("logged as errors:\n%s", logs.String())
	}
}
