package audit_test

import (
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/audit"
)

// TestWebhookRefusesShortSecret: a signing secret shorter than a client
// secret may be (16 characters) is refused, without being repeated: one
// captured delivery is enough to guess a short one offline, and then to
// sign deliveries the receiver takes for the trail's.
func TestWebhookRefusesShortSecret(t *testing.T) {
	for _, s := range []string{"x", "pw", "fifteen-chars-x"} {
		_, err := audit.NewWebhook("x", "https://siem.example/hook", []byte(s), nil)
		if err == nil {
			t.Errorf("a %d-byte secret accepted", len(s))
			continue
		}
		if !strings.Contains(err.Error(), "at least 16") || strings.Contains(err.Error(), s) {
			t.Errorf("a %d-byte secret: %q", len(s), err)
		}
	}
	if _, err := audit.NewWebhook("x", "https://siem.example/hook", []byte("sixteen-chars-xx"), nil); err != nil {
		t.Errorf("a 16-byte secret refused: %v", err)
	}
}

// TestWebhookPreviousSecretConfig: a previous secret equal to the current
// one is refused (a roll that was meant and did not happen), without
// repeating it.
func TestWebhookPreviousSecretConfig(t *testing.T) {
	s := []byte("the-one-and-only-secret")
	_, err := audit.NewWebhook("x", "https://siem.example/hook", s, &audit.WebhookOptions{PreviousSecret: s})
	if err == nil || strings.Contains(err.Error(), string(s)) {
		t.Errorf("previous secret = secret: %v", err)
	}
}
