package store_test

import (
	"slices"
	"testing"

	"github.com/gatehouse/gatehouse/internal/store"
)

func TestRedactURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"http://127.0.0.1:9100/mcp", "http://127.0.0.1:9100/mcp"},
		{"http://127.0.0.1:9100/mcp?tenant=acme&page=2", "http://127.0.0.1:9100/mcp?tenant=acme&page=2"},
		{"http://user:UrlPassw0rd@127.0.0.1:19437/mcp?api_key=QueryKey123",
			"http://user:redacted@127.0.0.1:19437/mcp?api_key=redacted"},
		{"https://ghp_tokenAsUser@example.com/mcp", "https://redacted@example.com/mcp"},
		// Every secret-looking name, in any case, escaped or not; the
		// others are kept as written.
		{"https://h/p?Access_Token=a&X-Amz-Signature=b&client%5Fsecret=c&PASSWORD=d&passwd=e&pwd=f&Authorization=g&credentials=h&code=i&sig=j&q=a%20b",
			"https://h/p?Access_Token=redacted&X-Amz-Signature=redacted&client%5Fsecret=redacted&PASSWORD=redacted&passwd=redacted&pwd=redacted&Authorization=redacted&credentials=redacted&code=redacted&sig=redacted&q=a%20b"},
		{"https://h/p?token&key=", "https://h/p?token&key=redacted"},
		{"http://user:pw@[::1", "(unparsable URL, redacted)"},
	} {
		if got := store.RedactURL(tc.in); got != tc.want {
			t.Errorf("RedactURL(%q)\n got %q\nwant %q", tc.in, got, tc.want)
		}
	}
}

func TestRedactArgs(t *testing.T) {
	for _, tc := range []struct{ in, want []string }{
		{nil, nil},
		{[]string{"crm-server", "--stdio", "--port", "9100"}, []string{"crm-server", "--stdio", "--port", "9100"}},
		{[]string{"srv", "--api-key=sk-live-abc", "-token", "tok-123", "--client-secret", "--verbose"},
			[]string{"srv", "--api-key=redacted", "-token", "redacted", "--client-secret", "--verbose"}},
		{[]string{"env", "GITHUB_TOKEN=ghp_abc", "PATH=/usr/bin", "srv"}, []string{"env", "GITHUB_TOKEN=redacted", "PATH=/usr/bin", "srv"}},
		{[]string{"npx", "remote", "https://u:pw@h/mcp?key=k1", "--header=Authorization:Bearer x", "--header", "authorization: Basic y"},
			[]string{"npx", "remote", "https://u:redacted@h/mcp?key=redacted", "--header=Authorization: redacted", "--header", "authorization: redacted"}},
		// A NAME=V as a flag's value, API-key and cookie headers, in one
		// word or two.
		{[]string{"docker", "run", "--env=GITHUB_PERSONAL_ACCESS_TOKEN=ghp_s1", "-e", "API_KEY=s2", "--env=LOG_LEVEL=debug", "ghcr.io/x/y"},
			[]string{"docker", "run", "--env=GITHUB_PERSONAL_ACCESS_TOKEN=redacted", "-e", "API_KEY=redacted", "--env=LOG_LEVEL=debug", "ghcr.io/x/y"}},
		{[]string{"npx", "mcp-remote", "https://mcp.example/mcp", "--header", "X-API-Key: s3", "-H", "PRIVATE-TOKEN:s4", "--header=Cookie: sid=s5",
			"--header", "Accept: text/plain", "--url=https://h/mcp?access_token=s6", "localhost:8080"},
			[]string{"npx", "mcp-remote", "https://mcp.example/mcp", "--header", "X-API-Key: redacted", "-H", "PRIVATE-TOKEN: redacted", "--header=Cookie: redacted",
				"--header", "Accept: text/plain", "--url=https://h/mcp?access_token=redacted", "localhost:8080"}},
		// The program itself is kept whatever its name.
		{[]string{"token-server"}, []string{"token-server"}},
	} {
		got := store.RedactArgs(tc.in)
		if !slices.Equal(got, tc.want) || (got == nil) != (tc.want == nil) {
			t.Errorf("RedactArgs(%q)\n got %q\nwant %q", tc.in, got, tc.want)
		}
	}
}
