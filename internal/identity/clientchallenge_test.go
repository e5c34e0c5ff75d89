package identity

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// A client that sends an Authorization header this server does not take
// as client authentication gets 401 invalid_client with a challenge of the
// scheme it used (RFC 6749 §5.2), and the Basic one that works.
func TestClientAuthChallengeMatchesScheme(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct {
		authorization string
		challenges    []string // prefixes, in order
	}{
		{"Bearer some-access-token", []string{`Bearer realm="` + h.srv.URL + `"`, `Basic realm="`}},
		{"DPoP some-token", []string{`DPoP realm="`, `Basic realm="`}},
		{"Basic not-base64!", []string{`Basic realm="`}},
		{`x"y z`, []string{`Basic realm="`}}, // not a scheme name: not echoed
		// A lone value may well be a credential (a secret sent bare, as
		// an API key is): not echoed, though it reads as a scheme name.
		{"web-secret-0123456789abcdef", []string{`Basic realm="`}},
	} {
		for _, path := range []string{"/token", "/introspect", "/revoke"} {
			f := url.Values{"grant_type": {"client_credentials"}, "token": {"t"}}
			req, _ := http.NewRequest("POST", h.url(path), strings.NewReader(f.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Authorization", tc.authorization)
			r := h.do(req)
			got := r.Header.Values("WWW-Authenticate")
			ok := r.Status == http.StatusUnauthorized && r.Error == "invalid_client" && len(got) == len(tc.challenges)
			for i := 0; ok && i < len(got); i++ {
				ok = strings.HasPrefix(got[i], tc.challenges[i])
			}
			if !ok {
				t.Errorf("%s with Authorization %q: %d %v, WWW-Authenticate %q, want %q", path, tc.authorization,
					r.Status, r.JSON, got, tc.challenges)
			}
		}
	}
	// A wrong Basic secret keeps its one Basic challenge.
	r := h.token("web", "wrong", url.Values{"grant_type": {"client_credentials"}})
	if got := r.Header.Values("WWW-Authenticate"); r.Status != 401 || len(got) != 1 || !strings.HasPrefix(got[0], "Basic ") {
		t.Errorf("wrong Basic secret: %d %q", r.Status, got)
	}
	// client_secret_post failures offer Basic too: every 401 carries a
	// challenge (RFC 9110 §15.5.2).
	r = h.token("", "", url.Values{"grant_type": {"client_credentials"}, "client_id": {"web"}, "client_secret": {"wrong"}})
	if got := r.Header.Values("WWW-Authenticate"); r.Status != 401 || len(got) != 1 || !strings.HasPrefix(got[0], "Basic ") {
		t.Errorf("wrong posted secret: %d %q", r.Status, got)
	}
}
