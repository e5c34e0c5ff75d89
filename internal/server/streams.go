package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/store"
)

// StreamOptions name where the audit trail is pushed besides the store.
type StreamOptions struct {
	// Webhook, when set, is an http(s) URL that receives every record
	// (HMAC-signed with WebhookSecret, retried with backoff, at least once).
	Webhook       string
	WebhookSecret string
	// WebhookSecretPrevious, when set, is the secret being rolled away
	// from: deliveries are signed under it too (audit.WebhookOptions.
	// PreviousSecret); empty means one signature.
	WebhookSecretPrevious string
	// Syslog, when set, is udp://host:port, tcp://host:port or
	// tls://host:port (RFC 5424 messages; RFC 5425 over TLS).
	Syslog string
	// SyslogCA, for tls://, is a PEM file of the certificates that may
	// sign the receiver's; empty means the system's roots.
	SyslogCA string
	// SyslogAllowPlain accepts udp:// or tcp:// to a host other than this
	// machine (the trail in clear on the network); refused without it.
	SyslogAllowPlain bool
	// FromStart makes a new stream begin with the first record kept,
	// rather than with what is written from now on.
	FromStart bool
}

// openStreams builds the configured sinks and starts feeding them.
func openStreams(trail *audit.Log, o StreamOptions, log *slog.Logger) (*audit.Streams, error) {
	var sinks []audit.Sink
	if o.Webhook == "" && (o.WebhookSecret != "" || o.WebhookSecretPrevious != "") {
		// A secret with nothing to sign is most likely a mistyped or
		// forgotten --audit-webhook: said, not silently ignored. The
		// settings are named, never their values.
		var set string
		switch {
		case o.WebhookSecret != "" && o.WebhookSecretPrevious != "":
			set = "GATEHOUSE_AUDIT_WEBHOOK_SECRET and GATEHOUSE_AUDIT_WEBHOOK_SECRET_PREVIOUS are set"
		case o.WebhookSecret != "":
			set = "GATEHOUSE_AUDIT_WEBHOOK_SECRET is set"
		default:
			set = "GATEHOUSE_AUDIT_WEBHOOK_SECRET_PREVIOUS is set"
		}
		log.Warn(set + " but no audit webhook is configured (--audit-webhook): the audit trail is pushed to no webhook")
	}
	if o.Webhook != "" {
		if o.WebhookSecret == "" {
			return nil, fmt.Errorf("an audit webhook needs a signing secret (GATEHOUSE_AUDIT_WEBHOOK_SECRET)")
		}
		if len(o.WebhookSecret) < audit.MinWebhookSecretLen {
			// The length, never the secret.
			return nil, fmt.Errorf("GATEHOUSE_AUDIT_WEBHOOK_SECRET must be at least %d characters (better, generate one: e.g. 32 random bytes base64url)", audit.MinWebhookSecretLen)
		}
		if o.WebhookSecretPrevious == o.WebhookSecret {
			return nil, fmt.Errorf("GATEHOUSE_AUDIT_WEBHOOK_SECRET_PREVIOUS is the same as GATEHOUSE_AUDIT_WEBHOOK_SECRET: set it to the secret being replaced, or unset it")
		}
		wo := &audit.WebhookOptions{PreviousSecret: []byte(o.WebhookSecretPrevious)}
		w, err := audit.NewWebhook("default", o.Webhook, []byte(o.WebhookSecret), wo)
		if err != nil {
			return nil, fmt.Errorf("--audit-webhook: %w", err)
		}
		sinks = append(sinks, w)
	}
	if o.Syslog != "" {
		// The value is shown redacted: a URL given with a password or a
		// token in it (a mistake here) must not reach the log.
		u, err := url.Parse(o.Syslog)
		if err != nil || (u.Scheme != "udp" && u.Scheme != "tcp" && u.Scheme != "tls") || u.Port() == "" {
			return nil, fmt.Errorf("--audit-syslog %q: want udp://host:port, tcp://host:port or tls://host:port", store.RedactURL(o.Syslog))
		}
		if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
			// Syslog has no credentials to give, nor a path: these were
			// meant for something else, and are not silently dropped.
			return nil, fmt.Errorf("--audit-syslog %q: syslog takes no user, path or query: want %s://%s", store.RedactURL(o.Syslog), u.Scheme, u.Host)
		}
		if u.Scheme != "tls" && !o.SyslogAllowPlain && !store.IsLoopbackHost(u.Hostname()) {
			return nil, fmt.Errorf("--audit-syslog %q is %s to a host other than this machine: the audit trail would cross the network in clear text; use tls://, or --audit-syslog-allow-plain to accept that",
				store.RedactURL(o.Syslog), u.Scheme)
		}
		so := &audit.SyslogOptions{AllowPlain: o.SyslogAllowPlain}
		if o.SyslogCA != "" {
			if u.Scheme != "tls" {
				return nil, fmt.Errorf("--audit-syslog-ca goes with a tls:// syslog, not %s://", u.Scheme)
			}
			pem, err := os.ReadFile(o.SyslogCA)
			if err != nil {
				return nil, fmt.Errorf("--audit-syslog-ca: %w", err)
			}
			roots := x509.NewCertPool()
			if !roots.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("--audit-syslog-ca %s: no PEM certificate in it", o.SyslogCA)
			}
			so.TLS = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
		}
		s, err := audit.NewSyslog("default", u.Scheme, u.Host, so)
		if err != nil {
			return nil, err
		}
		sinks = append(sinks, s)
	}
	if len(sinks) == 0 {
		return nil, nil
	}
	return trail.Stream(sinks, &audit.StreamOptions{FromStart: o.FromStart}), nil
}

// auditCollector exposes the audit writer's and the streams' counters, so
// a failing sink shows in /metrics.
type auditCollector struct {
	trail   *audit.Log
	streams *audit.Streams

	records, batches, failed, head                           *prometheus.Desc
	sent, failures, failing, cursor, lag, up, held, lastSent *prometheus.Desc
}

func newAuditCollector(trail *audit.Log, streams *audit.Streams) *auditCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("gatehouse_audit_"+name, help, labels, nil)
	}
	return &auditCollector{trail: trail, streams: streams,
		records:  d("records_total", "Audit records committed by this replica."),
		batches:  d("commits_total", "Audit group commits (transactions) by this replica."),
		failed:   d("failed_records_total", "Audit records whose commit failed."),
		head:     d("head", "Seq of the last record of the trail (shown with the streams, for their lag)."),
		sent:     d("stream_sent_total", "Records delivered to a stream.", "sink"),
		failures: d("stream_failures_total", "Failed deliveries to a stream (retried).", "sink"),
		failing:  d("stream_failing", "1 when a stream is not delivering: its last delivery failed, or it cannot read the trail.", "sink"),
		cursor:   d("stream_cursor", "Seq of the last record a stream delivered.", "sink"),
		lag:      d("stream_lag_records", "Records of the trail a stream has not delivered yet (head - cursor).", "sink"),
		up:       d("stream_active", "1 when this replica sends the stream.", "sink"),
		lastSent: d("stream_last_sent_timestamp_seconds", "When this replica last delivered to a stream (absent: not since it started).", "sink"),
		held: d("stream_held_back_records",
			"Records older than the audit retention that the last prune kept because the stream had not delivered them.", "sink"),
	}
}

func (c *auditCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.records, c.batches, c.failed, c.head, c.sent, c.failures, c.failing, c.cursor, c.lag, c.up, c.held, c.lastSent} {
		ch <- d
	}
}

func (c *auditCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.trail.Stats()
	ch <- prometheus.MustNewConstMetric(c.records, prometheus.CounterValue, float64(st.Records))
	ch <- prometheus.MustNewConstMetric(c.batches, prometheus.CounterValue, float64(st.Batches))
	ch <- prometheus.MustNewConstMetric(c.failed, prometheus.CounterValue, float64(st.Failed))
	if c.streams == nil {
		return
	}
	// The head, read before the streams' positions (as the admin API
	// does), so that a record appended meanwhile never shows as lag; the
	// cursor alone says nothing of how far a stream is behind. A store
	// that does not answer leaves both out of this scrape.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	head, _, herr := c.trail.Head(ctx)
	cancel()
	if herr == nil {
		ch <- prometheus.MustNewConstMetric(c.head, prometheus.GaugeValue, float64(head))
	}
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	for _, s := range c.streams.Stats() {
		ch <- prometheus.MustNewConstMetric(c.sent, prometheus.CounterValue, float64(s.Sent), s.Name)
		ch <- prometheus.MustNewConstMetric(c.failures, prometheus.CounterValue, float64(s.Failures), s.Name)
		ch <- prometheus.MustNewConstMetric(c.failing, prometheus.GaugeValue, b(s.Failing), s.Name)
		ch <- prometheus.MustNewConstMetric(c.cursor, prometheus.GaugeValue, float64(s.Cursor), s.Name)
		if herr == nil {
			ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, float64(max(0, head-s.Cursor)), s.Name)
		}
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, b(s.Active), s.Name)
		ch <- prometheus.MustNewConstMetric(c.held, prometheus.GaugeValue, float64(s.HeldBack), s.Name)
		if !s.LastSent.IsZero() {
			ch <- prometheus.MustNewConstMetric(c.lastSent, prometheus.GaugeValue, float64(s.LastSent.UnixMicro())/1e6, s.Name)
		}
	}
}
