package identity

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestErrorDescriptionQuotesBounded: an error that quotes what the
// request sent (a resource not served here) quotes at most a short
// prefix of it: a request cannot have its own kilobytes of text shown
// back on an error page or in a redirect, as the server's words.
func TestErrorDescriptionQuotesBounded(t *testing.T) {
	h := newHarness(t)
	long := "https://evil.example/" + strings.Repeat("Your-account-is-locked-call-us-", 200)
	r := h.token("billing", "billing-secret", url.Values{"grant_type": {"client_credentials"}, "resource": {long}})
	desc, _ := r.JSON["error_description"].(string)
	if r.Status != http.StatusBadRequest || r.Error != "invalid_target" || !strings.Contains(desc, "https://evil.example/") {
		t.Fatalf("a long resource: %d %v", r.Status, r.JSON)
	}
	if len(desc) > 200 {
		t.Errorf("the description quotes %d bytes of the request: %q", len(desc), desc)
	}
}
