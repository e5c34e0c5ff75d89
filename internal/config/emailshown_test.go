package config_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/internal/config"
)

// TestEmailShowsAsWritten: an e-mail address goes into ID tokens, the
// userinfo response and the CLI's user list, where relying parties and
// admins read it. One holding a character that shows as nothing or
// reorders the text around it (a right-to-left override, a zero-width
// space) reads as another address, and one of megabytes swells every
// token: both are refused, and the message never repeats a long one.
// Before, mail.ParseAddress took "\u202e" and "\u200b" in the local part,
// and a 7 MB address.
func TestEmailShowsAsWritten(t *testing.T) {
	long := strings.Repeat("a", 7<<20) + "@acme.example"
	for _, tt := range []struct{ email, want string }{
		{"eve\u202emoc.evila@acme.example", `"eve\u202emoc.evila@acme.example" holds an invisible or control character U+202E`},
		{"al\u200bice@acme.example", `"al\u200bice@acme.example" holds an invisible or control character U+200B`},
		{"alice@acme\u200d.example", `"alice@acme\u200d.example" holds an invisible or control character U+200D`},
		{strings.Repeat("a", 250) + "@acme.example", "is longer than 254 bytes, the most an e-mail address may be"},
		{long, "is longer than 254 bytes, the most an e-mail address may be"},
	} {
		got := config.CheckEmail(tt.email)
		if got != tt.want {
			t.Errorf("CheckEmail(%.40q…) = %.200q, want %q", tt.email, got, tt.want)
		}
	}
	for _, ok := range []string{"alice@acme.example", "jörg.müller@acme.example", "a+tag@sub.acme.example"} {
		if got := config.CheckEmail(ok); got != "" {
			t.Errorf("CheckEmail(%q) = %q, want it taken", ok, got)
		}
	}
	// As a tenant file gives it.
	_, err := parse(t, "tenant: acme\nusers:\n  - username: eve\n    email: \"eve\u202emoc.evila@acme.example\"\n")
	want := []string{`t.yaml:4: users[0].email: "eve\u202emoc.evila@acme.example" holds an invisible or control character U+202E`}
	if diff := cmp.Diff(want, problems(t, err)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
