package config_test

import (
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/config"
)

// TestLongValuesAreNotRepeatedInFull: a value refused for what it is (a
// name of the wrong shape, a reference to nothing, a URL, a duration) is
// quoted in the message by its start only, with its length: a tenant file
// of a single value of megabytes made an error of megabytes, written
// whole to the terminal by apply and serve --tenant. Each problem still
// names its line, its path and how the value starts.
func TestLongValuesAreNotRepeatedInFull(t *testing.T) {
	big := strings.Repeat("x", 512<<10)
	src := "tenant: acme\n" +
		"users:\n  - username: \"-" + big + "\"\n    roles: [" + big + "]\n" +
		"clients:\n  - {client_id: a, kind: " + big + ", redirect_uris: [\"https://" + big + "#f\"], tools: [" + big + "]}\n" +
		"upstreams:\n  - {name: u, url: \"https://h.example\", call_timeout: " + big + "}\n" +
		"tools:\n  - {name: t, upstream: " + big + "}\n  - {name: s, builtin: " + big + "}\n" +
		"audit: {retention: " + big + "}\n"
	f, err := config.Parse(strings.NewReader(src), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	err = f.Validate(builtins)
	if err == nil {
		t.Fatal("taken")
	}
	msg := err.Error()
	if len(msg) > 8<<10 {
		t.Errorf("the error is %d bytes long; want at most 8 KB", len(msg))
	}
	for _, want := range []string{
		`t.yaml:3: users[0].username: "-xxxxxxxx`,
		`t.yaml:4: users[0].roles[0]: unknown role "xxxxxxxx`,
		`t.yaml:6: clients[0].kind: "xxxxxxxx`,
		`t.yaml:6: clients[0].tools[0]: unknown tool "xxxxxxxx`,
		`t.yaml:8: upstreams[0].call_timeout: "xxxxxxxx`,
		`t.yaml:10: tools[0].upstream: unknown upstream "xxxxxxxx`,
		`t.yaml:11: tools[1].builtin: unknown built-in tool "xxxxxxxx`,
		`t.yaml:12: audit.retention: "xxxxxxxx`,
		`(524289 bytes)`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("the error has no %q", want)
		}
	}
	// A short value is quoted whole, as before.
	_, err = parse(t, "tenant: acme\nusers:\n  - {username: bob, roles: [sales]}\n")
	if err == nil || !strings.Contains(err.Error(), `users[0].roles[0]: unknown role "sales"`+"\n") && !strings.HasSuffix(err.Error(), `unknown role "sales"`) {
		t.Errorf("a short unknown role: %v", err)
	}
}
