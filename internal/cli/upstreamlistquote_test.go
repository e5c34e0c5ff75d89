package cli_test

import (
	"strings"
	"testing"
)

// TestUpstreamListQuotesCommandWords: 'upstream list' tells a command
// given as one word with a blank in it (--command "crm-mcp-server
// --stdio", a program of that whole name, which will not be found) from
// the same words given one per flag: the first is shown quoted.
func TestUpstreamListQuotesCommandWords(t *testing.T) {
	data := t.TempDir()
	d := []string{"--data", data}
	must(t, run(t, nil, "", append([]string{"upstream", "add", "one", "--command", "crm-mcp-server --stdio"}, d...)...))
	must(t, run(t, nil, "", append([]string{"upstream", "add", "two", "--command", "crm-mcp-server", "--command", "--stdio"}, d...)...))
	out := must(t, run(t, nil, "", append([]string{"upstream", "list"}, d...)...)).stdout
	var one, two string
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) > 0 && f[0] == "one" {
			one = l
		}
		if len(f) > 0 && f[0] == "two" {
			two = l
		}
	}
	if !strings.HasSuffix(one, "'crm-mcp-server --stdio'") || !strings.HasSuffix(two, " crm-mcp-server --stdio") {
		t.Errorf("upstream list:\n%s", out)
	}
}
