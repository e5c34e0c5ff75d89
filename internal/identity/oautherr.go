package identity

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Error is an OAuth 2.0 error (RFC 6749 §5.2 and the codes other RFCs add).
// Every OAuth error this package answers is one, built by the constructors
// below and mapped to an HTTP status in one place, status.
type Error struct {
	Code        string `json:"error"`
	Description string `json:"error_description,omitempty"`
	// basic asks for a WWW-Authenticate: Basic challenge (a client that
	// tried HTTP Basic authentication and failed, RFC 6749 §5.2).
	basic bool
	// scheme is the scheme of an Authorization header that is no client
	// authentication this server takes (Bearer, say): the challenge
	// answers in that scheme, as RFC 6749 §5.2 asks, and offers Basic.
	scheme string
	// cause is the internal reason for logs; never sent.
	cause error
}

func (e *Error) Error() string {
	if e.Description == "" {
		return e.Code
	}
	return e.Code + ": " + e.Description
}

func (e *Error) Unwrap() error { return e.cause }

func oauthErr(code, format string, args ...any) *Error {
	for i, a := range args {
		// A value the request sent, quoted back, is cut short: the
		// request's own text is not the server's words, at any length.
		if s, ok := a.(string); ok && len(s) > maxQuoted {
			args[i] = s[:maxQuoted] + "..."
		}
	}
	return &Error{Code: code, Description: describe(fmt.Sprintf(format, args...))}
}

// maxQuoted bounds a string an error description quotes.
const maxQuoted = 100

// describe makes s an error_description RFC 6749 allows (§5.2, §4.1.2.1:
// printable ASCII but '"' and '\'), whatever request values it quotes: a
// double quote becomes ', a backslash /, any other character outside the
// set (a control character, non-ASCII) ?.
func describe(s string) string {
	ok := true
	for i := 0; i < len(s) && ok; i++ {
		ok = s[i] >= 0x20 && s[i] <= 0x7e && s[i] != '"' && s[i] != '\\'
	}
	if ok {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteByte('\'')
		case r == '\\':
			b.WriteByte('/')
		case r < 0x20 || r > 0x7e:
			b.WriteByte('?')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Constructors, one per error code.
func errInvalidRequest(f string, a ...any) *Error { return oauthErr("invalid_request", f, a...) }
func errInvalidClient(f string, a ...any) *Error  { return oauthErr("invalid_client", f, a...) }
func errInvalidGrant(f string, a ...any) *Error   { return oauthErr("invalid_grant", f, a...) }
func errUnauthorizedClient(f string, a ...any) *Error {
	return oauthErr("unauthorized_client", f, a...)
}
func errUnsupportedGrant(f string, a ...any) *Error {
	return oauthErr("unsupported_grant_type", f, a...)
}
func errInvalidScope(f string, a ...any) *Error  { return oauthErr("invalid_scope", f, a...) }
func errInvalidTarget(f string, a ...any) *Error { return oauthErr("invalid_target", f, a...) }
func errAccessDenied(f string, a ...any) *Error  { return oauthErr("access_denied", f, a...) }
func errUnsupportedResponseType(f string, a ...any) *Error {
	return oauthErr("unsupported_response_type", f, a...)
}
func errLoginRequired(f string, a ...any) *Error   { return oauthErr("login_required", f, a...) }
func errConsentRequired(f string, a ...any) *Error { return oauthErr("consent_required", f, a...) }
func errRequestNotSupported(f string, a ...any) *Error {
	return oauthErr("request_not_supported", f, a...)
}
func errRequestURINotSupported(f string, a ...any) *Error {
	return oauthErr("request_uri_not_supported", f, a...)
}
func errInvalidRedirectURI(f string, a ...any) *Error {
	return oauthErr("invalid_redirect_uri", f, a...)
}
func errInvalidClientMetadata(f string, a ...any) *Error {
	return oauthErr("invalid_client_metadata", f, a...)
}
func errInvalidToken(f string, a ...any) *Error      { return oauthErr("invalid_token", f, a...) }
func errInsufficientScope(f string, a ...any) *Error { return oauthErr("insufficient_scope", f, a...) }
func errTemporarilyUnavailable(f string, a ...any) *Error {
	return oauthErr("temporarily_unavailable", f, a...)
}

// errServer hides cause from the client and keeps it for the log.
func errServer(cause error) *Error {
	return &Error{Code: "server_error", Description: "internal error", cause: cause}
}

// status maps an error code to its HTTP status: the one place that does.
func (e *Error) status() int {
	switch e.Code {
	case "invalid_client", "invalid_token":
		return http.StatusUnauthorized
	case "access_denied", "insufficient_scope":
		return http.StatusForbidden
	case "temporarily_unavailable":
		return http.StatusTooManyRequests
	case "server_error":
		return http.StatusInternalServerError
	}
	return http.StatusBadRequest
}

// asError turns any error into an *Error, unknown ones into server_error.
func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return errServer(err)
}

// writeError answers err as RFC 6749 JSON with no-store caching.
func (p *Provider) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := asError(err)
	switch {
	case e.Code == "server_error" && clientGone(r.Context(), e.cause):
		p.log().InfoContext(r.Context(), "client went away", "path", r.URL.Path)
	case e.Code == "server_error":
		p.log().ErrorContext(r.Context(), "identity request failed", "path", r.URL.Path, "err", e.cause)
	}
	h := w.Header()
	switch {
	case e.Code == "invalid_token" || e.Code == "insufficient_scope":
		h.Set("WWW-Authenticate", bearerChallenge(e))
	case e.Code == "invalid_client":
		// RFC 6749 §5.2: a client that tried the Authorization header gets
		// a challenge of the scheme it used; Basic is the one that works.
		// Any other 401 offers Basic too (RFC 9110 §15.5.2: a 401 carries
		// a challenge).
		if e.scheme != "" && !strings.EqualFold(e.scheme, "Basic") && authScheme(e.scheme) {
			h.Add("WWW-Authenticate", e.scheme+` realm="`+p.Issuer+`"`)
		}
		h.Add("WWW-Authenticate", `Basic realm="`+p.Issuer+`", charset="UTF-8"`)
	case e.Code == "temporarily_unavailable":
		h.Set("Retry-After", "60")
	}
	writeJSON(w, e.status(), e)
}

// authScheme reports whether s is an HTTP authentication scheme name (an
// RFC 9110 token), short enough to echo in a challenge.
func authScheme(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// bearerChallenge is the RFC 6750 §3 challenge for an invalid token.
func bearerChallenge(e *Error) string {
	return fmt.Sprintf(`Bearer error=%q, error_description=%q`, e.Code, e.Description)
}

// writeJSON answers v as JSON that no cache may keep (token responses and
// errors carry secrets or depend on them: RFC 6749 §5.1).
func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeJSONCached answers a public document with the caching the caller set.
func writeJSONCached(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
