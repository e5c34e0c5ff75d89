package gateway

// What the trail and the log keep of an upstream's error.
//
// An upstream's error reaches the trail (tool.result, feature.result), the
// log and the upstream's status. Its text is the SDK client's (which
// quotes the session ID of the gateway's session with the upstream:
// "mismatching session IDs %q and %q", "(session ID: %v)") or the
// upstream's own (a JSON-RPC error's message, anything up to an answer's
// 16 MiB). An upstream's session ID stands for the gateway's session with
// it, and for an upstream without credentials of its own it is all that
// does; the HTTP client quotes the upstream's URL, which may carry a key.
// scrub takes out of an error's whole text the upstream's URL and the
// session IDs the upstream sent on c's sessions (noted as they arrive,
// whatever text quotes them later): the caller hears an upstream's
// JSON-RPC error whole. What the log and the trail keep is its first
// maxLoggedErr bytes (shownErr: logErr, putErr), with any value a session
// ID, Authorization header or bearer token is written with, and the
// credentials of any URL (store.RedactURL), taken out as well: a record
// past the trail's size bound keeps none of its detail, and the reason,
// and an HTTP tool's slip state, with it.

import (
	"errors"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/clip"
	"github.com/gatehouse/gatehouse/internal/store"
)

// maxKnownSessions is how many of the session IDs an upstream sent on one
// upConn's sessions scrub takes out by value: the current one, and the
// few before it an error of an earlier session may still quote.
const maxKnownSessions = 4

// Session IDs shorter than minKnownSession are not taken out by value (a
// "1" would mask every digit of a message), nor longer than
// maxKnownSession (an upstream's header of megabytes, kept for each
// session): the patterns of sessionIDPatterns take them out where an
// error names them as session IDs.
const (
	minKnownSession = 4
	maxKnownSession = 1 << 10
)

// sessionIDs are the session IDs an upstream sent on an upConn's
// sessions, the latest last.
type sessionIDs struct {
	// last is the ID noted last: an upstream's every answer on a session
	// carries the same one, and each call's answer is noted (sessionTripper).
	last atomic.Pointer[string]
	mu   sync.Mutex
	ids  []string
}

func (s *sessionIDs) note(id string) {
	if len(id) < minKnownSession || len(id) > maxKnownSession {
		return
	}
	if last := s.last.Load(); last != nil && *last == id {
		return // noted already: no lock on the call's path
	}
	s.last.Store(&id)
	s.mu.Lock()
	defer s.mu.Unlock()
	if slices.Contains(s.ids, id) {
		return
	}
	if len(s.ids) == maxKnownSessions {
		s.ids = slices.Delete(s.ids, 0, 1)
	}
	s.ids = append(s.ids, id)
}

func (s *sessionIDs) all() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.ids)
}

// sessionTripper notes the session IDs an HTTP upstream's answers carry
// (Mcp-Session-Id), also those the SDK refuses (another ID than the
// session's): its errors quote them.
type sessionTripper struct {
	base http.RoundTripper
	ids  *sessionIDs
}

func (t sessionTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r)
	if resp != nil {
		for _, id := range resp.Header.Values("Mcp-Session-Id") {
			t.ids.note(id)
		}
	}
	return resp, err
}

// A quoted value, as %q writes it, or its start where the text was cut
// short in it.
const quotedValue = `"(?:[^"\\]|\\.)*(?:"|\\?\z)`

var (
	// "session IDs "a" and "b"" (the SDK's mismatching IDs), or the first
	// alone where the text was cut short.
	sessionIDPair = regexp.MustCompile(`(?i)(\bsession[ _-]?ids?\s+)` + quotedValue + `(?:(\s+and\s+)` + quotedValue + `)?`)
	// "session ID: v", "(session ID: v)", "Mcp-Session-Id: v",
	// "mcp-session-id":"v", session_id=v: the value, quoted or up to the
	// next space (less a closing parenthesis or punctuation after it).
	sessionIDNamed = regexp.MustCompile(`(?i)(\bsession[ _-]?id"?\s*[:=]\s*)(` + quotedValue + `|[^\s"]*[^\s"):,;.])`)
	// "Authorization: Bearer v", "authorization":"Basic v": the scheme
	// and its credentials.
	authorizationNamed = regexp.MustCompile(`(?i)(\b(?:proxy-)?authorization"?\s*[:=]\s*)(` + quotedValue + `|(?:[A-Za-z][A-Za-z0-9-]*\s+)?[A-Za-z0-9._~+/-]+=*)`)
	// "Bearer v" anywhere, a token68.
	bearerToken = regexp.MustCompile(`(?i)(\bbearer\s+)([A-Za-z0-9._~+/-]+=*)`)
	// A URL, up to a space or a quote.
	urlInText = regexp.MustCompile(`(?i)\b[a-z][a-z0-9+.-]*://[^\s"'<>]+`)
)

// scrubKnown returns msg with each of known, session IDs an upstream
// sent, replaced by audit.Redacted wherever it is. It runs on an error's
// whole text (scrub), as an upstream's JSON-RPC message reaches the
// caller whole, and costs a scan of it.
func scrubKnown(msg string, known []string) string {
	if len(known) == 0 {
		return msg
	}
	// Longest first: an ID inside another goes with it.
	known = slices.Clone(known)
	slices.SortFunc(known, func(a, b string) int { return len(b) - len(a) })
	pairs := make([]string, 0, 2*len(known))
	for _, id := range known {
		pairs = append(pairs, id, audit.Redacted)
	}
	return strings.NewReplacer(pairs...).Replace(msg)
}

// scrubPatterns returns msg with every value the patterns above find
// (a session ID, an Authorization header's, a bearer token) replaced by
// audit.Redacted, and the credentials of each URL in it redacted as
// store.RedactURL does. It runs on what the log and the trail keep of an
// error (shownErr), never a whole one: these patterns cost seconds over
// an upstream's message of megabytes.
func scrubPatterns(msg string) string {
	msg = sessionIDPair.ReplaceAllStringFunc(msg, func(m string) string {
		g := sessionIDPair.FindStringSubmatch(m)
		out := g[1] + audit.Redacted
		if g[2] != "" {
			out += g[2] + audit.Redacted
		}
		return out
	})
	msg = sessionIDNamed.ReplaceAllString(msg, "${1}"+audit.Redacted)
	msg = authorizationNamed.ReplaceAllString(msg, "${1}"+audit.Redacted)
	msg = replaceUnlessParam(bearerToken, msg)
	return urlInText.ReplaceAllStringFunc(msg, store.RedactURL)
}

// replaceUnlessParam replaces the value (second group) of each match of
// re in msg by audit.Redacted, but where it is the name of an auth-param
// (Bearer realm="api", of a WWW-Authenticate challenge), not a token.
func replaceUnlessParam(re *regexp.Regexp, msg string) string {
	var b strings.Builder
	last := 0
	for _, m := range re.FindAllStringSubmatchIndex(msg, -1) {
		start, end := m[4], m[5]
		if strings.HasSuffix(msg[start:end], "=") && strings.HasPrefix(msg[end:], `"`) {
			continue
		}
		b.WriteString(msg[last:start])
		b.WriteString(audit.Redacted)
		last = end
	}
	if last == 0 {
		return msg
	}
	b.WriteString(msg[last:])
	return b.String()
}

// scrubSlack is how far past maxLoggedErr bytes shownErr looks at an
// error: a value taken out shortens the text, and what follows it moves
// into the part kept. A value cut short at its end is taken out all the
// same (the patterns take the start of one).
const scrubSlack = 2 << 10

// shownErr returns msg, an error's text (scrubbed of what scrub takes
// out, and of what the caller sent where the trail keeps it), as the log
// and the trail keep it: its start, with what scrubPatterns finds taken
// out, cut short at maxLoggedErr bytes; cut reports that it was.
func shownErr(msg string) (short string, cut bool) {
	window := msg[:min(len(msg), maxLoggedErr+scrubSlack)]
	short, cut = clip.String(scrubPatterns(window), maxLoggedErr)
	if len(window) < len(msg) && !cut {
		short, cut = short+"…", true
	}
	return short, cut
}

// putErr sets detail["error"] to msg, an error's text, as shownErr
// leaves it, with its length under error_bytes when it was cut: an
// upstream's error is as long as the upstream likes, and a record past
// the trail's size bound keeps none of its detail (the slip's state, the
// status code) but its size.
func putErr(detail map[string]any, msg string) {
	short, cut := shownErr(msg)
	if cut {
		detail["error_bytes"] = len(msg)
	}
	detail["error"] = short
}

// scrubbed is an error whose text had a credential taken out.
type scrubbed struct {
	msg   string
	err   error
	clean func(string) string // what took it out
}

func (s scrubbed) Error() string { return s.msg }
func (s scrubbed) Unwrap() error { return s.err }

// As gives an upstream's JSON-RPC error in s's chain with its message
// cleaned as s's text was: the trail keeps that message, and the caller
// hears it.
func (s scrubbed) As(target any) bool {
	t, ok := target.(**jsonrpc.Error)
	if !ok {
		return false
	}
	var rpc *jsonrpc.Error
	if !errors.As(s.err, &rpc) {
		return false
	}
	cp := *rpc
	cp.Message = s.clean(rpc.Message)
	*t = &cp
	return true
}
