package config_test

import (
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/config"
)

// TestLongKeysAreNotRepeatedInFull: a problem's path repeats the file's
// keys, and a key written explicitly ("? kkkk…") has no length bound but
// the file's: an unknown key of a megabyte made an error of a megabyte,
// written whole to the terminal by apply and serve --tenant. The path is
// cut as values are quoted: its start, and its length; the problem still
// names its line.
func TestLongKeysAreNotRepeatedInFull(t *testing.T) {
	big := strings.Repeat("k", 1<<20)
	src := "tenant: acme\n? " + big + "\n: 1\n" +
		"users:\n  - username: a\n    ? " + big + "\n    : 1\n"
	_, err := config.Parse(strings.NewReader(src), "t.yaml")
	check(t, err, `t.yaml:2: "kkkkkkkk`, `t.yaml:6: "users[0].kkkkkkkk`, `"… (1048576 bytes): unknown field`, `"… (1048585 bytes): unknown field`)

	// Keys that parse, refused by Validate: a header given twice (its
	// message names the first spelling too) and a header name too long.
	src = "tenant: acme\nupstreams:\n  - name: u\n    url: \"https://h.example\"\n    headers_env:\n" +
		"      ? X" + big + "\n      : A\n      ? x" + big + "\n      : B\n"
	f, err := config.Parse(strings.NewReader(src), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	check(t, f.Validate(builtins), `t.yaml:8: "upstreams[0].headers_env.xkkkkkkkk`, `is the header "Xkkkkkkkk`)
}

func check(t *testing.T, err error, wants ...string) {
	t.Helper()
	if err == nil {
		t.Fatal("taken")
	}
	msg := err.Error()
	if len(msg) > 8<<10 {
		t.Errorf("the error is %d bytes long; want at most 8 KB", len(msg))
	}
	for _, want := range wants {
		if !strings.Contains(msg, want) {
			t.Errorf("the error has no %q", want)
		}
	}
	if t.Failed() {
		t.Log(msg[:min(len(msg), 3000)])
	}
}
