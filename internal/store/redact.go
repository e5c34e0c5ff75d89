package store

import (
	"net/url"
	"strings"
)

// Redacted stands in for a credential RedactURL took out of a URL.
const Redacted = "redacted"

// secretParamWords are what the name of a query parameter holds, in any
// case, when its value is likely a credential: api_key, access_token,
// X-Amz-Signature, client_secret, code… Matching on part of the name
// hides a harmless value now and then; missing a key would leak it.
var secretParamWords = []string{"key", "token", "secret", "password", "passwd", "pwd", "auth", "sig", "credential", "code"}

// RedactURL returns raw with the credentials a URL can carry replaced by
// Redacted, for logs and the audit trail: the userinfo's password (or a
// lone username, which is how a token is often passed:
// https://TOKEN@host) and the value of every query parameter whose name
// looks secret. Everything else is kept as written. A raw that does not
// parse as a URL is replaced whole: it could hold anything.
func RedactURL(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL, " + Redacted + ")"
	}
	changed := false
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), Redacted)
		} else {
			u.User = url.User(Redacted)
		}
		changed = true
	}
	if q, ok := redactQuery(u.RawQuery); ok {
		u.RawQuery, changed = q, true
	}
	if !changed {
		return raw
	}
	return u.String()
}

// redactQuery redacts the secret-looking parameters of a raw query,
// keeping the others byte for byte, and reports whether it did.
func redactQuery(q string) (string, bool) {
	if q == "" {
		return q, false
	}
	parts := strings.Split(q, "&")
	changed := false
	for i, p := range parts {
		name, _, ok := strings.Cut(p, "=")
		if !ok {
			continue // a bare name has no value to hide
		}
		plain, err := url.QueryUnescape(name)
		if err != nil {
			plain = name
		}
		if secretParam(plain) {
			parts[i] = name + "=" + Redacted
			changed = true
		}
	}
	return strings.Join(parts, "&"), changed
}

func secretParam(name string) bool {
	name = strings.ToLower(name)
	for _, w := range secretParamWords {
		if strings.Contains(name, w) {
			return true
		}
	}
	return false
}

// RedactArgs returns a copy of a command line (an upstream's program and
// its arguments) with the credentials it may carry replaced by Redacted,
// for the audit trail and logs: the value of a flag whose name looks
// secret (--api-key=V, or --token V), of a NAME=V word (as env(1) takes)
// whose name does, also as a flag's value (--env=GITHUB_TOKEN=V), of a
// header whose name does or that carries credentials (Authorization,
// X-API-Key, Cookie: …), and the secret parts of a URL. The program and
// every other word are kept. Secrets belong in the environment (an
// upstream's env names variables, never values); this is for those that
// were not.
func RedactArgs(args []string) []string {
	if args == nil {
		return nil
	}
	out := make([]string, len(args))
	copy(out, args)
	for i := 1; i < len(out); i++ {
		a := out[i]
		if flag := strings.TrimLeft(a, "-"); flag != a {
			name, value, hasValue := strings.Cut(flag, "=")
			switch {
			case hasValue && secretParam(name):
				out[i] = a[:len(a)-len(flag)] + name + "=" + Redacted
			case hasValue:
				// --env=NAME=V, --header=Name: V, --url=https://…
				out[i] = a[:len(a)-len(value)] + redactWord(value)
			case secretParam(name) && i+1 < len(out) && !strings.HasPrefix(out[i+1], "-"):
				i++ // --token VALUE
				out[i] = Redacted
			}
			continue
		}
		out[i] = redactWord(a)
	}
	return out
}

// redactWord is one word of a command line, not a flag, with a
// credential it carries redacted: a secret header's value, a NAME=V
// word's value when the name looks secret, a URL's secret parts.
func redactWord(a string) string {
	if name, _, ok := strings.Cut(a, ":"); ok && secretHeader(name) {
		return name + ": " + Redacted
	}
	if name, _, ok := strings.Cut(a, "="); ok && !strings.ContainsAny(name, "/:?") && secretParam(name) {
		return name + "=" + Redacted
	}
	if strings.Contains(a, "://") {
		return RedactURL(a)
	}
	return a
}

// secretHeader reports whether name is an HTTP header name whose value is
// likely a credential: Authorization, Proxy-Authorization, X-API-Key,
// PRIVATE-TOKEN, Cookie, and any other whose name looks secret.
func secretHeader(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return secretParam(name) || strings.EqualFold(name, "cookie")
}
