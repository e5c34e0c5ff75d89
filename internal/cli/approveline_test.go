package cli_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// shellWords splits line as a POSIX shell reads words made of plain
// characters and single-quoted strings ('\” inside one: a quote).
func shellWords(t *testing.T, line string) []string {
	t.Helper()
	var words []string
	var w strings.Builder
	in, started := false, false
	for _, r := range line {
		switch {
		case in && r == '\'':
			in = false
		case in:
			w.WriteRune(r)
		case r == '\'':
			in, started = true, true
		case r == '\\':
			t.Fatalf("a backslash outside quotes: %s", line)
		case r == ' ':
			if started {
				words = append(words, w.String())
				w.Reset()
				started = false
			}
		case r == '"':
			t.Fatalf("a double quote outside single quotes (a shell reads it as quoting, not as the name's): %s", line)
		default:
			w.WriteRune(r)
			started = true
		}
	}
	if started {
		words = append(words, w.String())
	}
	return words
}

// TestUpstreamReviewCommandApprovesOddNames: the command 'upstream review'
// prints for a prompt whose name the upstream chose oddly (a leading
// dash, a double quote), pasted into a shell with the store flags, approves
// exactly that prompt.
func TestUpstreamReviewCommandApprovesOddNames(t *testing.T) {
	for _, name := range []string{"-v", `say "hi"`} {
		t.Run(name, func(t *testing.T) {
			s := mcp.NewServer(&mcp.Implementation{Name: "up", Version: "1"}, nil)
			mcp.AddTool(s, &mcp.Tool{Name: "lookup"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
				return &mcp.CallToolResult{}, nil, nil
			})
			set := func(d string) {
				s.AddPrompt(&mcp.Prompt{Name: name, Description: d}, func(context.Context, *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
					return &mcp.GetPromptResult{}, nil
				})
			}
			set("Briefs")
			srv := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil))
			t.Cleanup(srv.Close)
			data := t.TempDir()
			d := []string{"--data", data}
			c := func(args ...string) result { return must(t, run(t, nil, "", append(args, d...)...)) }
			c("upstream", "add", "crm", "--url", srv.URL+"/mcp")
			c("role", "add", "sales")
			c("tool", "add", "lookup", "--upstream", "crm", "--role", "sales")
			startGateway(t, data)
			featureSetting(t, data, "crm", "Briefs")
			set("Briefs, and mails them elsewhere")
			featureSetting(t, data, "crm", "mails them")
			out := c("upstream", "review", "crm").stdout
			hash := reviewedHash(t, out)
			var line string
			for _, l := range strings.Split(out, "\n") {
				if l = strings.TrimSpace(l); strings.HasPrefix(l, "gatehouse upstream approve ") {
					line = l
				}
			}
			words := shellWords(t, line)
			// The store flags, as an admin adds them, after the command's
			// own words.
			args := append([]string{"upstream", "approve"}, append(d, words[3:]...)...)
			r := run(t, nil, "", args...)
			if r.code != 0 || !strings.Contains(r.stdout, "with sha256 "+hash) {
				t.Fatalf("the printed command %s: exit %d\n%s%s", line, r.code, r.stdout, r.stderr)
			}
			if r := c("upstream", "review", "crm"); !strings.Contains(r.stdout, "no prompt or resource template awaits approval") {
				t.Errorf("review after approval: %s", r.stdout)
			}
		})
	}
}
