package server_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/server"
)

// TestAuditWebhookSecretWithoutWebhookWarns: a webhook signing secret set
// with no --audit-webhook (a mistyped flag) is said at start, naming the
// setting and not the secret, rather than silently ignored; with the
// webhook configured, no such warning.
func TestAuditWebhookSecretWithoutWebhookWarns(t *testing.T) {
	const secret, previous = "webhook-signing-secret", "the-old-webhook-secret"
	for _, tc := range []struct {
		name    string
		streams server.StreamOptions
		want    string // "" for no warning
	}{
		{"secret", server.StreamOptions{WebhookSecret: secret}, "GATEHOUSE_AUDIT_WEBHOOK_SECRET is set"},
		{"previous", server.StreamOptions{WebhookSecretPrevious: previous}, "GATEHOUSE_AUDIT_WEBHOOK_SECRET_PREVIOUS is set"},
		{"both", server.StreamOptions{WebhookSecret: secret, WebhookSecretPrevious: previous}, "GATEHOUSE_AUDIT_WEBHOOK_SECRET and GATEHOUSE_AUDIT_WEBHOOK_SECRET_PREVIOUS are set"},
		{"webhook", server.StreamOptions{Webhook: "http://127.0.0.1:1/hook", WebhookSecret: secret}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := server.Listen("127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			var logs lockedBuffer
			s, err := server.New(context.Background(), server.Options{Store: server.StoreOptions{DataDir: t.TempDir()},
				Logger: slog.New(slog.NewTextHandler(&logs, nil)), Streams: tc.streams}, ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			s.Close()
			got := logs.String()
			if strings.Contains(got, secret) || strings.Contains(got, previous) {
				t.Errorf("a secret is in the log:\n%s", got)
			}
			warned := strings.Contains(got, "no audit webhook is configured")
			if tc.want == "" {
				if warned {
					t.Errorf("warned with the webhook configured:\n%s", got)
				}
				return
			}
			if !warned || !strings.Contains(got, "level=WARN") || !strings.Contains(got, tc.want) || !strings.Contains(got, "--audit-webhook") {
				t.Errorf("no warning %q naming --audit-webhook:\n%s", tc.want, got)
			}
		})
	}
}
