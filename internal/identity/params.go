package identity

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// maxForm bounds every request body the provider parses.
const maxForm = 64 << 10

// parseForm reads a POST body as application/x-www-form-urlencoded (and
// the query for GET) and refuses a parameter given more than once (RFC 6749
// §3.1, §3.2).
func parseForm(w http.ResponseWriter, r *http.Request) (url.Values, *Error) {
	if r.Method == http.MethodPost {
		ct := r.Header.Get("Content-Type")
		if mt, _, _ := strings.Cut(ct, ";"); !strings.EqualFold(strings.TrimSpace(mt), "application/x-www-form-urlencoded") {
			return nil, errInvalidRequest("the body must be application/x-www-form-urlencoded")
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxForm))
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			return nil, errInvalidRequest("the body is larger than %d KiB", maxForm>>10)
		case err != nil:
			return nil, errInvalidRequest("the body could not be read")
		}
		// Only the body counts for a POST: parameters in the query of a
		// token request are not part of the protocol, and a query that
		// cannot be parsed is no fault of the body's.
		post, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, errInvalidRequest("the body cannot be parsed as a form")
		}
		r.PostForm, r.Form = post, cloneValues(post)
		if q, err := url.ParseQuery(r.URL.RawQuery); err == nil {
			for k, vs := range q {
				r.Form[k] = append(r.Form[k], vs...)
			}
		}
		return post, dupCheck(post)
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, errInvalidRequest("the query cannot be parsed")
	}
	return q, dupCheck(q)
}

// repeatable parameters may appear more than once (RFC 8707 resource,
// RFC 8693 audience).
var repeatable = map[string]bool{"resource": true, "audience": true}

func dupCheck(v url.Values) *Error {
	for k, vs := range v {
		if len(vs) > 1 && !repeatable[k] {
			return errInvalidRequest("parameter %s is given more than once", k)
		}
	}
	return nil
}

// validScopeToken reports whether s is a scope-token (RFC 6749 §3.3).
func validScopeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c == 0x22 || c == 0x5c || c > 0x7e {
			return false
		}
	}
	return true
}

// parseScope splits a scope parameter. A malformed one is invalid_scope.
func parseScope(s string) ([]string, *Error) {
	if s == "" {
		return nil, nil
	}
	var out []string
	// A set, not a search of out per token: the scope of an authorization
	// request is anyone's to make as long as a URL (1 MiB), and a search
	// per token made it cost the square of its length.
	seen := map[string]bool{}
	for _, t := range strings.Split(s, " ") {
		if t == "" {
			continue // tolerate doubled spaces
		}
		if !validScopeToken(t) {
			return nil, errInvalidScope("the scope is malformed")
		}
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out, nil
}

// grantable keeps the requested scopes the provider knows, in order. RFC
// 6749 §3.3 lets the server ignore part of a request; the token response
// then names the scope granted.
func (p *Provider) grantable(req []string) []string {
	var out []string
	for _, s := range req {
		if p.scopeSet[s] {
			out = append(out, s)
		}
	}
	return out
}

func joinScope(s []string) string { return strings.Join(s, " ") }

// subset reports whether every element of a is in b.
func subset(a, b []string) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

func checkResourceURI(r string) error {
	u, err := url.Parse(r)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return errors.New("a resource must be an absolute URI")
	}
	if u.Fragment != "" || strings.Contains(r, "#") {
		return errors.New("a resource must not have a fragment")
	}
	return nil
}

// resources validates RFC 8707 resource values: each must be an absolute
// URI without a fragment that this server issues tokens for. An empty
// value is as if omitted (RFC 6749 §3.1, §3.2: a parameter sent without a
// value). A resource of p.SoleResources is granted alone (it says why).
func (p *Provider) resources(vs []string) ([]string, *Error) {
	var out []string
	for _, r := range vs {
		if r == "" {
			continue
		}
		if err := checkResourceURI(r); err != nil {
			return nil, errInvalidTarget("%s", err.Error())
		}
		if !p.resSet[r] {
			return nil, errInvalidTarget("the resource '%s' is not served here", r)
		}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	if len(out) > 1 {
		for _, r := range out {
			if slices.Contains(p.SoleResources, r) {
				return nil, errInvalidTarget("the resource '%s' is granted alone: ask for it in a request of its own", r)
			}
		}
	}
	return out, nil
}

// randomToken returns 256 random bits, base64url, after a prefix that lets
// secret scanners recognise Gatehouse secrets.
func randomToken(prefix string) string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go ≥ 1.24)
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

// randomID returns 128 random bits, hex: identifiers that are not secrets.
func randomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// digest is the SHA-256 (hex) a secret is stored and looked up by.
func digest(secret string) string {
	s := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(s[:])
}

// Token prefixes.
const (
	prefixCode    = "ghc_"
	prefixRefresh = "ghr_"
	prefixSession = "ghs_"
	prefixSecret  = "ghk_"
)
