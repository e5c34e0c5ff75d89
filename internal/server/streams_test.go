package server_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/server"
)

// TestAuditWebhookFailureShowsInMetrics: a sink that fails is retried, its
// failures are visible in /metrics, and nothing is lost once it recovers.
func TestAuditWebhookFailureShowsInMetrics(t *testing.T) {
	var calls, delivered atomic.Int64
	secret := "webhook-signing-secret"
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			http.Error(w, "down for a moment", http.StatusServiceUnavailable)
			return
		}
		delivered.Add(1)
	}))
	defer hook.Close()
	o := server.Options{Store: server.StoreOptions{DataDir: t.TempDir()},
		Streams: server.StreamOptions{Webhook: hook.URL, WebhookSecret: secret}}
	s, base, cancel, done := start(t, o)
	defer func() { cancel(); <-done }()
	if err := s.Audit.Record(context.Background(), audit.Event{Type: audit.AdminChange, Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for delivered.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if delivered.Load() == 0 {
		t.Fatal("the webhook never received the record after recovering")
	}
	_, body, _ := get(t, metricsURL(base))
	for _, want := range []string{
		`gatehouse_audit_stream_failures_total{sink="webhook:default"} 1`,
		`gatehouse_audit_records_total`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics miss %q", want)
		}
	}
	if strings.Contains(body, secret) {
		t.Errorf("the webhook secret is in /metrics")
	}
}

func TestAuditWebhookNeedsSecret(t *testing.T) {
	ln, err := server.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = server.New(context.Background(), server.Options{Store: server.StoreOptions{DataDir: t.TempDir()},
		Streams: server.StreamOptions{Webhook: "http://127.0.0.1:1/hook"}}, ln.Addr().String())
	if err == nil || !strings.Contains(err.Error(), "GATEHOUSE_AUDIT_WEBHOOK_SECRET") {
		t.Errorf("webhook without secret: %v", err)
	}
}

// TestAuditPruneHeldBackShowsInMetrics: records a failing webhook has not
// delivered are not pruned, and how many are held back shows in /metrics;
// once it delivers them they are pruned and the gauge goes back to 0.
func TestAuditPruneHeldBackShowsInMetrics(t *testing.T) {
	var up atomic.Bool
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !up.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
		}
	}))
	defer hook.Close()
	o := server.Options{Store: server.StoreOptions{DataDir: t.TempDir()},
		Streams: server.StreamOptions{Webhook: hook.URL, WebhookSecret: "webhook-signing-secret", FromStart: true}}
	s, base, cancel, done := start(t, o)
	defer func() { cancel(); <-done }()
	ctx := context.Background()
	for range 3 {
		if err := s.Audit.Record(ctx, audit.Event{Type: audit.AdminChange, Actor: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	head, _, err := s.Audit.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Millisecond) // every record is older than the cut
	n, err := s.Audit.Prune(ctx, time.Now())
	if err != nil || n != 0 {
		t.Fatalf("prune while the webhook fails: %d, %v", n, err)
	}
	_, body, _ := get(t, metricsURL(base))
	if want := fmt.Sprintf(`gatehouse_audit_stream_held_back_records{sink="webhook:default"} %d`, head); !strings.Contains(body, want) {
		t.Errorf("metrics miss %q:\n%s", want, grepLines(body, "gatehouse_audit_"))
	}

	up.Store(true)
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, body, _ = get(t, metricsURL(base))
		if strings.Contains(body, fmt.Sprintf(`gatehouse_audit_stream_cursor{sink="webhook:default"} %d`, head)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the webhook never got the records:\n%s", grepLines(body, "gatehouse_audit_"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n, err := s.Audit.Prune(ctx, time.Now()); err != nil || n != head {
		t.Fatalf("prune after delivery: %d, %v (want %d)", n, err, head)
	}
	_, body, _ = get(t, metricsURL(base))
	if want := `gatehouse_audit_stream_held_back_records{sink="webhook:default"} 0`; !strings.Contains(body, want) {
		t.Errorf("metrics miss %q:\n%s", want, grepLines(body, "gatehouse_audit_"))
	}
	if rep, err := s.Audit.Verify(ctx, nil); err != nil || rep.Anchor == nil || rep.Anchor.Seq != head {
		t.Errorf("verify after prune: %v %+v", err, rep)
	}
}

func grepLines(s, prefix string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestAuditSyslogOverTLS: --audit-syslog tls://… with --audit-syslog-ca
// delivers the trail to a receiver whose certificate that CA signed,
// octet-counted (RFC 5425).
func TestAuditSyslogOverTLS(t *testing.T) {
	// httptest's certificate is valid for 127.0.0.1: a receiver with it,
	// and a CA file that trusts it.
	ts := httptest.NewUnstartedServer(nil)
	ts.StartTLS()
	ts.Close()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: ts.TLS.Certificates})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 16)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		r := bufio.NewReader(c)
		for {
			n := 0
			if _, err := fmt.Fscanf(r, "%d ", &n); err != nil {
				return
			}
			msg := make([]byte, n)
			if _, err := io.ReadFull(r, msg); err != nil {
				return
			}
			got <- string(msg)
		}
	}()
	o := server.Options{Store: server.StoreOptions{DataDir: t.TempDir()},
		Streams: server.StreamOptions{Syslog: "tls://" + ln.Addr().String(), SyslogCA: ca, FromStart: true}}
	s, _, cancel, done := start(t, o)
	defer func() { cancel(); <-done }()
	if err := s.Audit.Record(context.Background(), audit.Event{Type: audit.AdminChange, Actor: "syslog-over-tls"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(15 * time.Second)
	for {
		select {
		case m := <-got:
			if strings.Contains(m, `"actor":"syslog-over-tls"`) {
				return
			}
		case <-deadline:
			t.Fatal("the record never reached the TLS receiver")
		}
	}
}

// TestAuditSyslogOptionsRefused: each mistake in the syslog options stops
// the server at start with what is wrong.
func TestAuditSyslogOptionsRefused(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		syslog, ca, want string
	}{
		{"tcp://127.0.0.1", "", "want udp://host:port, tcp://host:port or tls://host:port"},
		{"unix:///dev/log", "", "want udp://host:port, tcp://host:port or tls://host:port"},
		// Syslog takes no credentials, path or query: a URL with them is
		// a mistake, refused without repeating what it carries.
		{"tcp://ops:hunter2@127.0.0.1:514", "", "takes no user, path or query"},
		{"udp://127.0.0.1:514/?token=hunter2", "", "takes no user, path or query"},
		{"tcp://ops:hunter2@127.0.0.1", "", "want udp://host:port"},
		{"tcp://127.0.0.1:514", notPEM, "--audit-syslog-ca goes with a tls:// syslog"},
		{"tls://127.0.0.1:6514", filepath.Join(dir, "missing.pem"), "--audit-syslog-ca:"},
		{"tls://127.0.0.1:6514", notPEM, "no PEM certificate"},
		// In clear only to this machine, as the webhook.
		{"udp://10.0.0.7:514", "", "--audit-syslog-allow-plain"},
		{"tcp://siem.example:514", "", "in clear"},
	} {
		ln, err := server.Listen("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		_, err = server.New(context.Background(), server.Options{Store: server.StoreOptions{DataDir: t.TempDir()},
			Streams: server.StreamOptions{Syslog: tc.syslog, SyslogCA: tc.ca}}, ln.Addr().String())
		ln.Close()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("syslog %q, CA %q: %v; want %q", tc.syslog, tc.ca, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("syslog %q: the error repeats its secret: %v", tc.syslog, err)
		}
	}
}

// TestAuditWebhookRefusesShortSecret: the server does not start with a
// webhook secret that one captured delivery would let someone guess
// offline; the error names the setting, not the secret.
func TestAuditWebhookRefusesShortSecret(t *testing.T) {
	ln, err := server.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const short = "hunter2-webhook"
	_, err = server.New(context.Background(), server.Options{Store: server.StoreOptions{DataDir: t.TempDir()},
		Streams: server.StreamOptions{Webhook: "http://127.0.0.1:1/hook", WebhookSecret: short}}, ln.Addr().String())
	if err == nil || !strings.Contains(err.Error(), "GATEHOUSE_AUDIT_WEBHOOK_SECRET") ||
		!strings.Contains(err.Error(), "at least 16") || strings.Contains(err.Error(), short) {
		t.Errorf("a %d-character webhook secret: %v", len(short), err)
	}
}

// TestAuditWebhookRollsItsSecret: with GATEHOUSE_AUDIT_WEBHOOK_SECRET_PREVIOUS
// set as well, every delivery is signed under both secrets, so a receiver
// holding either takes it while it is being given the new one.
func TestAuditWebhookRollsItsSecret(t *testing.T) {
	const newSecret, oldSecret = "the-new-webhook-secret", "the-old-webhook-secret"
	type delivery struct {
		ts, sig string
		body    []byte
	}
	got := make(chan delivery, 100)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- delivery{r.Header.Get(audit.WebhookTimestampHeader), r.Header.Get(audit.WebhookSignatureHeader), body}
	}))
	defer hook.Close()
	o := server.Options{Store: server.StoreOptions{DataDir: t.TempDir()},
		Streams: server.StreamOptions{Webhook: hook.URL, WebhookSecret: newSecret, WebhookSecretPrevious: oldSecret}}
	s, _, cancel, done := start(t, o)
	defer func() { cancel(); <-done }()
	if err := s.Audit.Record(context.Background(), audit.Event{Type: audit.AdminChange, Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	select {
	case d := <-got:
		for _, secret := range []string{newSecret, oldSecret} {
			if !audit.VerifyWebhook([]byte(secret), d.ts, d.sig, d.body) {
				t.Errorf("a receiver holding %q refuses %q", secret, d.sig)
			}
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no delivery in 15 s")
	}
}

// TestAuditWebhookPreviousSecretErrors: a previous secret equal to the
// secret (a roll meant but not done) is refused, naming the settings and
// not the secret.
func TestAuditWebhookPreviousSecretErrors(t *testing.T) {
	ln, err := server.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const secret = "webhook-signing-secret"
	_, err = server.New(context.Background(), server.Options{Store: server.StoreOptions{DataDir: t.TempDir()},
		Streams: server.StreamOptions{Webhook: "http://127.0.0.1:1/hook", WebhookSecret: secret, WebhookSecretPrevious: secret}}, ln.Addr().String())
	if err == nil || !strings.Contains(err.Error(), "GATEHOUSE_AUDIT_WEBHOOK_SECRET_PREVIOUS") || strings.Contains(err.Error(), secret) {
		t.Errorf("previous secret = secret: %v", err)
	}
}
