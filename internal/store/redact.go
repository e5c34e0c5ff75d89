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
