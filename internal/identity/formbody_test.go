package identity

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestFormBodyErrors: a form endpoint reads the body of a POST only: a
// query it cannot parse does not make a good body fail (before, the answer
// blamed the body), and a body over 64 KiB is refused saying so.
func TestFormBodyErrors(t *testing.T) {
	h := newHarness(t)
	send := func(query, body string) tokenResult {
		req, _ := http.NewRequest(http.MethodPost, h.url("/token")+query, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("billing", "billing-secret")
		return h.do(req)
	}
	cc := url.Values{"grant_type": {"client_credentials"}}.Encode()
	for _, q := range []string{"?a=%zz", "?a;b"} {
		if r := send(q, cc); r.Status != 200 {
			t.Errorf("a good body with the query %s: %d %v", q, r.Status, r.JSON)
		}
	}
	if r := send("", cc+"&pad="+strings.Repeat("x", 70<<10)); r.Status != 400 || !strings.Contains(fmt.Sprint(r.JSON["error_description"]), "larger than 64 KiB") {
		t.Errorf("a body over 64 KiB: %d %v", r.Status, r.JSON)
	}
	if r := send("", "a=%zz"); r.Status != 400 || !strings.Contains(fmt.Sprint(r.JSON["error_description"]), "cannot be parsed") {
		t.Errorf("a body that is no form: %d %v", r.Status, r.JSON)
	}
}
