package audit_test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
)

// TestWebhookTLSAndCredentialsNotQuoted: an untrusted certificate is refused; no error
// (what the stats and the log show) quotes the URL's user, password,
// path or query, whatever fails.
func TestWebhookTLSAndCredentialsNotQuoted(t *testing.T) {
	entries := []audit.Entry{{Seq: 1, Event: audit.Event{Type: audit.Logout}}}
	check := func(name string, err error) {
		t.Helper()
		if err == nil {
			t.Errorf("%s: delivered", name)
			return
		}
		t.Logf("%s: %v", name, err)
		for _, secret := range []string{"hunter2", "alice", "tok-SECRET", "hookpath"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("%s: the error quotes %q: %v", name, secret, err)
			}
		}
	}
	var hits atomic.Int64
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer tlsSrv.Close()
	u := strings.Replace(tlsSrv.URL, "https://", "https://alice:hunter2@", 1) + "/hookpath?token=tok-SECRET"
	wh, err := audit.NewWebhook("w", u, []byte("webhook-test-secret"), nil)
	if err != nil {
		t.Fatal(err)
	}
	check("untrusted certificate", wh.Send(t.Context(), entries))
	if hits.Load() != 0 {
		t.Errorf("the receiver with an untrusted certificate got %d deliveries", hits.Load())
	}

	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	wh, _ = audit.NewWebhook("w", "http://alice:hunter2@"+addr+"/hookpath?token=tok-SECRET", []byte("webhook-test-secret"), nil)
	check("refused", wh.Send(t.Context(), entries))

	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { time.Sleep(300 * time.Millisecond) }))
	defer slow.Close()
	wh, _ = audit.NewWebhook("w", strings.Replace(slow.URL, "http://", "http://alice:hunter2@", 1)+"/hookpath?token=tok-SECRET", []byte("webhook-test-secret"),
		&audit.WebhookOptions{Client: &http.Client{Timeout: 50 * time.Millisecond}})
	check("timeout", wh.Send(t.Context(), entries))

	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", "https://other.example/")
		w.WriteHeader(http.StatusTemporaryRedirect)
	}))
	defer bad.Close()
	wh, _ = audit.NewWebhook("w", strings.Replace(bad.URL, "http://", "http://alice:hunter2@", 1)+"/hookpath?token=tok-SECRET", []byte("webhook-test-secret"), nil)
	check("redirect", wh.Send(t.Context(), entries))

	_, err = audit.NewWebhook("w", "http://alice:hunter2@example.com/hookpath?token=tok-SECRET", []byte("webhook-test-secret"), nil)
	check("http to another host", err)
	_, err = audit.NewWebhook("w", "https://alice:hunter2@exa mple.com/hookpath?token=tok-SECRET", []byte("webhook-test-secret"), nil)
	check("unparsable", err)
}
