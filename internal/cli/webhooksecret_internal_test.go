package cli

import (
	"testing"
)

// TestServeReadsWebhookSecrets: serve takes the webhook's secret and the
// previous one (for a roll) from the environment, as the README says.
func TestServeReadsWebhookSecrets(t *testing.T) {
	env := map[string]string{
		"GATEHOUSE_AUDIT_WEBHOOK_SECRET":          "the-new-webhook-secret",
		"GATEHOUSE_AUDIT_WEBHOOK_SECRET_PREVIOUS": "the-old-webhook-secret",
	}
	f := serveFlags{webhook: "https://siem.example/hook"}
	o, err := f.options(&Env{Getenv: func(k string) string { return env[k] }}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.Streams.WebhookSecret != env["GATEHOUSE_AUDIT_WEBHOOK_SECRET"] || o.Streams.WebhookSecretPrevious != env["GATEHOUSE_AUDIT_WEBHOOK_SECRET_PREVIOUS"] {
		t.Errorf("the webhook's secrets from the environment: %q, %q", o.Streams.WebhookSecret, o.Streams.WebhookSecretPrevious)
	}
}
