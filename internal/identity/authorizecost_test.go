package identity

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// distinctWords is n different short words, space-separated: what an
// unauthenticated caller can put in a scope or prompt parameter.
func distinctWords(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteString(strconv.FormatInt(int64(i), 36))
		b.WriteByte(' ')
	}
	return b.String()
}

// An authorization request is anyone's to send, for any client the tenant
// has (an MCP client registers one in a request), and net/http takes a
// request line of up to 1 MiB. Its scope and prompt must cost the server
// work in proportion to their length: a scope of distinct words was
// deduplicated by a linear search per word, and each unknown prompt value
// was appended to a growing string, both quadratic, so that one GET of
// 600 KB kept a CPU busy for tens of seconds (and nothing stops when the
// caller hangs up). The bound below is generous: after the fix such a
// request takes well under a second.
func TestAuthorizeCostLinearInScopeAndPrompt(t *testing.T) {
	h := newHarness(t)
	const words = 130000 // about 600 KB of query, under net/http's 1 MiB
	for _, param := range []string{"scope", "prompt"} {
		t.Run(param, func(t *testing.T) {
			v := authParams("client_id", "native", "redirect_uri", nativeRedirect)
			v.Set(param, distinctWords(words))
			req := httptest.NewRequest(http.MethodGet, h.url("/authorize")+"?"+v.Encode(), nil)
			rec := httptest.NewRecorder()
			done := make(chan struct{})
			// Served directly rather than through the test server, whose
			// Close would wait for a runaway handler.
			go func() { defer close(done); h.mux.ServeHTTP(rec, req) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatalf("an unauthenticated authorization request with a %s of %d words (%d bytes of query) "+
					"still running after 10 s: its cost grows with the square of its length", param, words, len(v.Encode()))
			}
			if rec.Code != http.StatusSeeOther && rec.Code != http.StatusFound {
				t.Fatalf("status %d, want a redirect", rec.Code)
			}
		})
	}
}
