package e2e_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/e2e"
	"github.com/gatehouse/gatehouse/internal/server"
)

const adminStreamsPath = "/admin/api/audit/streams"

type adminStreams struct {
	Head    int64 `json:"head"`
	Streams []struct {
		Name      string     `json:"name"`
		Active    bool       `json:"active"`
		Sent      int64      `json:"sent"`
		Failures  int64      `json:"failures"`
		Cursor    int64      `json:"cursor"`
		Lag       int64      `json:"lag"`
		Failing   bool       `json:"failing"`
		LastError string     `json:"last_error"`
		HeldBack  int64      `json:"held_back"`
		LastSent  *time.Time `json:"last_sent"`
	} `json:"streams"`
}

// streamsUntil reads the stream counters until done says they are what
// the test waits for, and returns them with the body of the last answer.
func streamsUntil(t *testing.T, g *e2e.Gatehouse, token string, done func(adminStreams) bool) (adminStreams, string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var p adminStreams
		status, body := adminDo(t, g, "GET", token, adminStreamsPath, &p)
		if status != 200 {
			t.Fatalf("streams: %d %s", status, body)
		}
		if done(p) {
			return p, body
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 30 s the streams still are: %s", body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// withWebhook starts the admin tenant with an audit webhook at url.
func withWebhook(t *testing.T, url, secret string) *e2e.Gatehouse {
	return e2e.Start(t, adminTenant, &e2e.Options{Tweak: func(o *server.Options) {
		o.Streams = server.StreamOptions{Webhook: url, WebhookSecret: secret}
	}})
}

// The admin API shows each audit stream's counters and lag: an empty list
// without streams, a failing webhook as failing (with an error that does
// not repeat its URL's secrets), a healthy one caught up. Each read is
// recorded; parameters and other methods are refused.
func TestAdminAuditStreamsAPI(t *testing.T) {
	t.Run("none", func(t *testing.T) {
		g := e2e.Start(t, adminTenant, nil)
		root := adminToken(t, g, "root", "root-e2e-password")
		var p adminStreams
		status, body := adminDo(t, g, "GET", root, adminStreamsPath, &p)
		if status != 200 || p.Head == 0 || p.Streams == nil || len(p.Streams) != 0 || !strings.Contains(body, `"streams":[]`) {
			t.Errorf("no streams: %d %s", status, body)
		}
		for _, r := range []struct {
			method, path string
			status       int
			want         string
		}{
			{"GET", adminStreamsPath + "?sink=x", 400, "unknown parameter"},
			{"POST", adminStreamsPath, 405, "GET"},
			{"DELETE", adminStreamsPath, 405, "GET"},
			{"POST", "/admin/api/audit", 405, "GET"},
		} {
			if status, body := adminDo(t, g, r.method, root, r.path, nil); status != r.status || !strings.Contains(body, r.want) {
				t.Errorf("%s %s: %d %q; want %d with %q", r.method, r.path, status, body, r.status, r.want)
			}
		}
		// The read (and only the one answered) is in the trail, with who
		// asked and what.
		_, reads, _ := adminGet(t, g, root, "type="+audit.AuditRead)
		var n int
		for _, e := range reads.Entries {
			if strings.Contains(string(e.Raw), `"read":"streams"`) {
				n++
				if e.Event.Actor != "root" || e.Event.Agent != "admin-script" {
					t.Errorf("the read's record: %s", e.Raw)
				}
			}
		}
		if n != 1 {
			t.Errorf("%d stream reads in the trail, want 1: %+v", n, reads.Entries)
		}
	})

	t.Run("failing", func(t *testing.T) {
		// The endpoint drops every connection: the transport's error would
		// name the URL, and in it the token.
		const leaked = "tok_9f8e7d6c5b4a39281706f5e4d3c2b1a0"
		const signing = "whsec-audit-streams-e2e"
		hook := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) }))
		defer hook.Close()
		g := withWebhook(t, hook.URL+"/hook/"+leaked+"?access_token="+leaked, signing)
		root := adminToken(t, g, "root", "root-e2e-password")
		p, body := streamsUntil(t, g, root, func(p adminStreams) bool {
			return len(p.Streams) == 1 && p.Streams[0].Failing && p.Streams[0].Failures > 0
		})
		s := p.Streams[0]
		if s.Name != "webhook:default" || !s.Active || s.Sent != 0 || s.LastError == "" || s.Lag <= 0 || s.Lag != p.Head-s.Cursor ||
			s.LastSent != nil {
			t.Errorf("failing webhook: %s", body)
		}
		for _, secret := range []string{leaked, signing, "access_token", "http://"} {
			if strings.Contains(s.LastError, secret) || strings.Contains(body, secret) {
				t.Errorf("%q in the answer: %s", secret, body)
			}
		}
	})

	t.Run("healthy", func(t *testing.T) {
		hook := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		defer hook.Close()
		g := withWebhook(t, hook.URL+"/hook", "whsec-audit-streams-e2e")
		root := adminToken(t, g, "root", "root-e2e-password")
		// Each read adds a record; the answer is from before it, so a
		// stream that delivered everything shows no lag.
		p, body := streamsUntil(t, g, root, func(p adminStreams) bool {
			return len(p.Streams) == 1 && p.Streams[0].Sent > 0 && p.Streams[0].Lag == 0
		})
		if s := p.Streams[0]; !s.Active || s.Failing || s.Failures != 0 || s.LastError != "" || s.Cursor != p.Head || s.HeldBack != 0 ||
			s.LastSent == nil || time.Since(*s.LastSent) > time.Minute {
			t.Errorf("healthy webhook: %s", body)
		}
	})
}
