package identity

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzMatchRedirect: a redirect URI matches only byte for byte, or as an
// http loopback URI differing from a registered one in the port alone.
func FuzzMatchRedirect(f *testing.F) {
	for _, s := range [][2]string{
		{"http://127.0.0.1/cb", "http://127.0.0.1:8080/cb"},
		{"http://127.0.0.1/cb", "http://127.0.0.1.evil.example/cb"},
		{"http://localhost/cb", "http://localhost:1@evil.example/cb"},
		{"https://app.example/cb", "https://app.example/cb/../x"},
		{"http://[::1]/cb", "http://[::1]:99/cb"},
		{"http://127.0.0.1/cb", "http://127.0.0.1:99/cb#frag"},
		{"http://127.0.0.1/c%62", "http://127.0.0.1:1/cb"},
		{"cursor://anysphere.cursor-retrieval/oauth/callback", "cursor://anysphere.cursor-retrieval/oauth/callback"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, registered, given string) {
		if !matchRedirect([]string{registered}, given) || given == registered {
			return
		}
		g, err := url.Parse(given)
		if err != nil {
			t.Fatalf("matched an unparsable URI %q", given)
		}
		r, _ := url.Parse(registered)
		if g.Scheme != "http" || !isLoopbackHost(g.Hostname()) || g.User != nil || g.Fragment != "" {
			t.Fatalf("%q matched %q but is not an http loopback URI", given, registered)
		}
		if r.Hostname() != g.Hostname() || r.EscapedPath() != g.EscapedPath() || r.RawQuery != g.RawQuery {
			t.Fatalf("%q matched %q with more than the port differing", given, registered)
		}
	})
}

// FuzzCheckRedirectURI: an accepted URI is absolute, has no fragment, and
// is https, loopback http, or a scheme no browser runs.
func FuzzCheckRedirectURI(f *testing.F) {
	for _, s := range []string{"https://a.example/cb", "http://127.0.0.1:9/cb", "javascript:alert(1)", "JavaScript://x",
		"http://evil.example/", "com.example.app:/oauth", "data:,x", "https://a.example/#", "http://localhost./cb",
		"https:///path", " https://a.example"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if checkRedirectURI(s) != nil {
			return
		}
		u, err := url.Parse(s)
		if err != nil || !u.IsAbs() || strings.Contains(s, "#") || u.User != nil {
			t.Fatalf("accepted %q", s)
		}
		switch strings.ToLower(u.Scheme) {
		case "javascript", "data", "vbscript", "file":
			t.Fatalf("accepted scheme of %q", s)
		case "http":
			if !isLoopbackHost(u.Hostname()) {
				t.Fatalf("accepted non-loopback http %q", s)
			}
		case "https":
			if u.Host == "" {
				t.Fatalf("accepted https without host %q", s)
			}
		}
	})
}

// FuzzParseScope: accepted scope tokens are RFC 6749 scope-tokens.
func FuzzParseScope(f *testing.F) {
	for _, s := range []string{"openid profile", "  a  b ", `a"b`, "a\\b", "\x00", "ü"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		scopes, err := parseScope(s)
		if err != nil {
			return
		}
		for _, sc := range scopes {
			if !validScopeToken(sc) || strings.Contains(sc, " ") {
				t.Fatalf("accepted token %q of %q", sc, s)
			}
		}
	})
}

// FuzzSafeNext: the login's next is always a path on this server.
func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{"/admin", "//evil.example", "/\\evil.example", "https://evil.example", "/%2F%2Fevil", "/\t/evil"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := safeNext(s)
		if n == "" {
			return
		}
		u, err := url.Parse(n)
		if err != nil || u.Scheme != "" || u.Host != "" || !strings.HasPrefix(n, "/") || strings.HasPrefix(n, "//") ||
			strings.ContainsAny(n, "\\\t\r\n") {
			t.Fatalf("safeNext(%q) = %q", s, n)
		}
	})
}
