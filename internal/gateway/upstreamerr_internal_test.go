package gateway

import (
	"strings"
	"testing"
)

// TestScrubTextForms: the forms in which the SDK's errors, and an
// upstream's, quote a session ID or a credential each lose the value and
// keep the rest, in what the log and the trail keep of an error; text
// without any is left as it is, and a session ID noted as the upstream's
// is taken out wherever the text has it.
func TestScrubTextForms(t *testing.T) {
	var known sessionIDs // an ID too short to take out by value is not noted
	known.note("KNOWN-ID-1")
	known.note("1")
	for _, c := range []struct{ in, want string }{
		{`calling "tools/call": mismatching session IDs "ABC123" and "x\"y"`, `calling "tools/call": mismatching session IDs [redacted] and [redacted]`},
		{`POST: failed to reconnect (session ID: Q7X):a): EOF`, `POST: failed to reconnect (session ID: [redacted]): EOF`},
		{`bad header Mcp-Session-Id: zz9, try again`, `bad header Mcp-Session-Id: [redacted], try again`},
		{`{"mcp-session-id":"zz9"}`, `{"mcp-session-id":[redacted]}`},
		{`sent Authorization: Basic dXNlcjpwYXNz= and more`, `sent Authorization: [redacted] and more`},
		{`token Bearer abc.def-ghi rejected`, `token Bearer [redacted] rejected`},
		{`WWW-Authenticate: Bearer realm="api", error="invalid_token"`, `WWW-Authenticate: Bearer realm="api", error="invalid_token"`},
		{`Get "https://u:p@host.internal/x?token=t0k&page=2": EOF`, `Get "https://u:redacted@host.internal/x?token=redacted&page=2": EOF`},
		{`session KNOWN-ID-1 not found, id 1 ok`, `session [redacted] not found, id 1 ok`},
		{`invalid params: "name" is required`, `invalid params: "name" is required`},
	} {
		if got, _ := shownErr(scrubKnown(c.in, known.all())); got != c.want {
			t.Errorf("scrubbed %q\n = %q\nwant %q", c.in, got, c.want)
		}
	}
	// A value past what is kept, cut short in it, is taken out all the same.
	long := strings.Repeat("S", 8<<10)
	for _, in := range []string{
		`mismatching session IDs "` + strings.Repeat("x", 2000) + `" and "` + long + `"`,
		`mismatching session IDs "` + long + `" and "x"`,
		strings.Repeat(".", 2000) + ` Authorization: Bearer ` + long,
		strings.Repeat(".", 2000) + ` see https://u:` + long + `@host/`,
	} {
		got, cut := shownErr(in)
		if !cut || len(got) > maxLoggedErr+len("…") || strings.Contains(got, "SSSS") || strings.Contains(got, "xxxx") {
			t.Errorf("shownErr(%.60q…) = %q, %v", in, got, cut)
		}
	}
}
