package audit

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// Webhook headers.
const (
	// WebhookSignatureHeader carries "sha256=" and the hex HMAC-SHA256,
	// under the shared secret, of the timestamp header's value, ".", and
	// the body. While a previous secret is configured (a roll), it is a
	// comma-separated list: the signature under the secret, then ", " and
	// the one under the previous secret, so that a receiver holding either
	// takes the delivery (as Stripe's several v1= do). Without one it is
	// the single signature, as it always was.
	WebhookSignatureHeader = "X-Gatehouse-Signature"
	// WebhookTimestampHeader carries the Unix time of the delivery, so a
	// receiver can refuse old replays.
	WebhookTimestampHeader = "X-Gatehouse-Timestamp"
	// WebhookDeliveryHeader names the delivery "FIRST-LAST" (seqs): a
	// receiver deduplicates redeliveries with it, or with each record's seq.
	WebhookDeliveryHeader = "X-Gatehouse-Delivery"
)

// MinWebhookSecretLen is the shortest signing secret a webhook takes, as
// long as a tenant file's client secret must be. Unlike a client secret,
// which is checked online (argon2id, failures throttled), a webhook secret
// can be guessed offline at the speed of SHA-256 from one captured
// delivery: the length only turns away the trivially short, and the
// messages ask for 32 random bytes.
const MinWebhookSecretLen = 16

// WebhookBody is the JSON body of a delivery.
type WebhookBody struct {
	Records []Entry `json:"records"`
}

// Webhook is a Sink that POSTs records to an HTTP endpoint as JSON,
// signed with HMAC-SHA256. A 2xx answer is a delivery (if it came after
// the whole body was written: see Send); anything else
// (a redirect included: it is not followed) is retried, a 413 (the body
// over the receiver's limit) with fewer records (ErrBatchTooLarge), and so
// is a delivery that times out (the receiver or the link too slow for it).
type Webhook struct {
	name    string
	url     string
	secrets [][]byte // the secret, then the previous one if any
	client  *http.Client
	now     func() time.Time
}

// WebhookOptions tune a Webhook. The zero value (or nil) is the default.
type WebhookOptions struct {
	// Client sends the requests; nil means a client with a 10 second
	// timeout. Redirects are never followed (a copy of Client is used).
	Client *http.Client
	// Now is the clock of the timestamp header; nil means time.Now.
	Now func() time.Time
	// PreviousSecret, when set, is the secret being rolled away from:
	// each delivery is signed under it as well, so a receiver not yet
	// given the new secret still takes it. Nil means one signature. It
	// may be shorter than MinWebhookSecretLen (a weak secret is what one
	// rolls away from; its signature tells nothing the earlier
	// deliveries did not), but not the secret itself.
	PreviousSecret []byte
}

// NewWebhook returns a webhook sink named name (its stream position is
// stored under "webhook:"+name) posting to rawURL, signing with secret. Its
// errors name neither the sink nor the URL (which may hold credentials):
// the caller says which setting was refused.
func NewWebhook(name, rawURL string, secret []byte, opts *WebhookOptions) (*Webhook, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("the webhook URL must be http(s)://host/…")
	}
	// The trail leaves the machine only encrypted, as the log streams of
	// identity platforms do; in clear only to a receiver on this machine.
	if u.Scheme == "http" && !store.IsLoopbackHost(u.Hostname()) {
		return nil, errors.New("the webhook URL must be https (http only to this machine: localhost, 127.0.0.0/8, ::1)")
	}
	if len(secret) == 0 {
		return nil, errors.New("the webhook needs a signing secret")
	}
	if len(secret) < MinWebhookSecretLen {
		return nil, fmt.Errorf("the webhook signing secret must be at least %d characters (better, generate one: e.g. 32 random bytes base64url)", MinWebhookSecretLen)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	w := &Webhook{name: name, url: rawURL, secrets: [][]byte{secret}, now: time.Now}
	if opts != nil && len(opts.PreviousSecret) > 0 {
		if hmac.Equal(opts.PreviousSecret, secret) {
			return nil, errors.New("the webhook's previous signing secret is the same as its secret: give the one being replaced, or none")
		}
		w.secrets = append(w.secrets, opts.PreviousSecret)
	}
	if opts != nil {
		if opts.Client != nil {
			c := *opts.Client
			client = &c
		}
		if opts.Now != nil {
			w.now = opts.Now
		}
	}
	// A redirect is not a delivery: followed, a 301, 302 or 303 would
	// turn the POST into a GET without the records, and its 2xx would
	// count them delivered. The 3xx is returned and retried instead.
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	w.client = client
	return w, nil
}

// Name returns the sink's name.
func (w *Webhook) Name() string { return "webhook:" + w.name }

// Send POSTs the entries in one request.
func (w *Webhook) Send(ctx context.Context, entries []Entry) error {
	if len(entries) == 0 {
		return nil
	}
	body, err := json.Marshal(WebhookBody{Records: entries})
	if err != nil {
		return fmt.Errorf("webhook %s: %w", w.name, err)
	}
	ts := strconv.FormatInt(w.now().Unix(), 10)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook %s: cannot build the request", w.name)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "gatehouse-audit")
	req.Header.Set(WebhookTimestampHeader, ts)
	sigs := make([]string, len(w.secrets))
	for i, s := range w.secrets {
		sigs[i] = WebhookSignature(s, ts, body)
	}
	req.Header.Set(WebhookSignatureHeader, strings.Join(sigs, ", "))
	req.Header.Set(WebhookDeliveryHeader, fmt.Sprintf("%d-%d", entries[0].Seq, entries[len(entries)-1].Seq))
	wrote := new(bodyWritten)
	req = req.WithContext(httptrace.WithClientTrace(ctx, wrote.trace()))
	resp, err := w.client.Do(req)
	if err != nil {
		// url.Error repeats the URL, which may hold a token: keep the cause only.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("webhook %s: %w", w.name, err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode == http.StatusRequestEntityTooLarge {
		return fmt.Errorf("webhook %s: answered %s: %w", w.name, responseStatus(resp), ErrBatchTooLarge)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		err := fmt.Errorf("webhook %s: answered %s", w.name, responseStatus(resp))
		switch c := resp.StatusCode; {
		case c >= 400 && c < 500 && c != http.StatusRequestTimeout && c != http.StatusTooManyRequests &&
			c != http.StatusUnauthorized && c != http.StatusForbidden && c != http.StatusNotFound:
			// What the batch holds, not the receiver's state (which a
			// 401, 403 or 404 of a misconfigured receiver is, for every
			// batch alike): the stream looks for the record refused.
			return fmt.Errorf("%w: %w", err, ErrBatchRefused)
		}
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
			if after := retryAfter(resp.Header.Get("Retry-After"), w.now()); after > 0 {
				return &RetryAfterError{Err: err, After: after}
			}
		}
		return err
	}
	// A 2xx is a delivery only if the whole body went out first: the
	// client takes an answer that comes while it still writes, and a
	// receiver that read part of the body (a limit that truncates, a
	// handler that answers first) and said 2xx has not the records.
	if err := wrote.wait(ctx); err != nil {
		return fmt.Errorf("webhook %s: answered %s before taking the whole delivery: %w", w.name, responseStatus(resp), err)
	}
	return nil
}

// bodyWritten learns from the client whether its last try at the request
// wrote it whole (a request may be tried again on a new connection: each
// try's connection comes before its write).
type bodyWritten struct {
	mu   sync.Mutex
	done chan struct{} // closed once the current try's write ended
	err  error
}

func (b *bodyWritten) trace() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		GotConn: func(httptrace.GotConnInfo) {
			b.mu.Lock()
			b.done, b.err = make(chan struct{}), nil
			b.mu.Unlock()
		},
		WroteRequest: func(info httptrace.WroteRequestInfo) {
			b.mu.Lock()
			defer b.mu.Unlock()
			if b.done == nil {
				b.done = make(chan struct{})
			}
			select {
			case <-b.done:
			default:
				b.err = info.Err
				close(b.done)
			}
		},
	}
}

// wait returns once the write of the answered try ended: nil if it wrote
// the whole request. (The client ends a write left unfinished once the
// answer is read: it does not wait long.) A transport that reports no
// connection and no write (one that is not net/http's: WebhookOptions.
// Client) is taken at its word, as before.
func (b *bodyWritten) wait(ctx context.Context) error {
	b.mu.Lock()
	done := b.done
	b.mu.Unlock()
	if done == nil {
		return nil
	}
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		var ue *url.Error
		if errors.As(b.err, &ue) {
			return ue.Err
		}
	}
	return b.err
}

// RetryAfterError is a failed Send whose receiver said when to try again
// (a 429 or 503 with Retry-After): the stream waits that long, if longer
// than its backoff, up to its longest backoff.
type RetryAfterError struct {
	Err   error
	After time.Duration
}

func (e *RetryAfterError) Error() string { return e.Err.Error() }
func (e *RetryAfterError) Unwrap() error { return e.Err }

// retryAfter reads a Retry-After value (RFC 9110 §10.2.3: seconds, or an
// HTTP date) as a wait from now; 0 when it says nothing usable.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(min(secs, int64(24*time.Hour/time.Second))) * time.Second
	}
	if at, err := http.ParseTime(v); err == nil && at.After(now) {
		return at.Sub(now)
	}
	return 0
}

// responseStatus is the response's status code and its standard text, not
// resp.Status: the reason phrase is the receiver's own text, which may
// hold control or format characters (a C1 CSI, a bidirectional
// override) that the stream's last error would carry into the admin
// API's JSON as they are.
func responseStatus(resp *http.Response) string {
	return strings.TrimSpace(strconv.Itoa(resp.StatusCode) + " " + http.StatusText(resp.StatusCode))
}

// WebhookSignature returns the signature header value for a delivery:
// "sha256=" and hex HMAC-SHA256(secret, timestamp + "." + body).
func WebhookSignature(secret []byte, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// VerifyWebhook checks a delivery's signature header in constant time,
// for receivers (and tests): true when one of its comma-separated
// signatures is the one under secret. A receiver that holds two secrets
// during a roll calls it with each.
func VerifyWebhook(secret []byte, timestamp, signature string, body []byte) bool {
	want := []byte(WebhookSignature(secret, timestamp, body))
	ok := false
	for item := range strings.SplitSeq(signature, ",") {
		if hmac.Equal(want, []byte(strings.TrimSpace(item))) {
			ok = true
		}
	}
	return ok
}
