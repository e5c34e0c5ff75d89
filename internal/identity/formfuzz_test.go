package identity

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzParseForm: no body, query or content type makes parseForm panic;
// what it accepts names no parameter twice but resource and audience,
// and what it refuses is described in the characters RFC 6749 §5.2
// allows, whatever the request quoted.
func FuzzParseForm(f *testing.F) {
	for _, s := range [][3]string{
		{"application/x-www-form-urlencoded", "grant_type=authorization_code&code=x", "a=1"},
		{"application/x-www-form-urlencoded; charset=utf-8", "scope=a&scope=b", ""},
		{"Application/X-WWW-Form-Urlencoded", "resource=https://a&resource=https://b", "x=%zz"},
		{"text/plain", "a=1", ""},
		{"application/x-www-form-urlencoded", "%22%5C%0a%C3%A9=1&%22%5C%0a%C3%A9=2", ""},
		{"application/x-www-form-urlencoded", "a=%zz;b", ""},
	} {
		f.Add(s[0], s[1], s[2], true)
		f.Add(s[0], s[1], s[2], false)
	}
	f.Fuzz(func(t *testing.T, ct, body, query string, post bool) {
		r := httptest.NewRequest(http.MethodGet, "/authorize", nil)
		if post {
			r = httptest.NewRequest(http.MethodPost, "/token", strings.NewReader(body))
			r.Header.Set("Content-Type", ct)
		}
		r.URL.RawQuery = query
		v, err := parseForm(httptest.NewRecorder(), r)
		if err != nil {
			if got := describe(err.Description); got != err.Description {
				t.Fatalf("description %q is not RFC 6749's charset", err.Description)
			}
			return
		}
		for k, vs := range v {
			if len(vs) > 1 && !repeatable[k] {
				t.Fatalf("accepted %q given %d times", k, len(vs))
			}
		}
	})
}
