package cli_test

import (
	"strings"
	"testing"
)

// TestDatabasePasswordNotOnTheCommandLine: a --database URL that carries
// a password (the user's, or a password or sslpassword parameter) is
// refused on the command line, where every user of the machine can read
// it, as --master-key is, without repeating it; the message names
// GATEHOUSE_DATABASE and PGPASSWORD. The same URL from GATEHOUSE_DATABASE
// is taken (here it then fails to connect: nothing listens at port 1),
// and so is one without a password on the command line.
func TestDatabasePasswordNotOnTheCommandLine(t *testing.T) {
	const secret = "s3cret-db-pass"
	for _, url := range []string{
		"postgres://gatehouse:" + secret + "@127.0.0.1:1/gatehouse",
		"postgresql://gatehouse@127.0.0.1:1/gatehouse?password=" + secret,
		"postgres://gatehouse@127.0.0.1:1/gatehouse?sslmode=require&SSLPassword=" + secret,
	} {
		for _, args := range [][]string{
			{"user", "list", "--database", url},
			{"serve", "--addr", "127.0.0.1:0", "--database=" + url},
			{"audit", "verify", "--database", url},
		} {
			r := run(t, nil, "", args...)
			if r.code != 2 || !strings.Contains(r.stderr, "GATEHOUSE_DATABASE") || !strings.Contains(r.stderr, "PGPASSWORD") ||
				strings.Contains(r.stderr+r.stdout, secret) {
				t.Errorf("%v: exit %d, %q", args[:2], r.code, r.stderr)
			}
		}
		r := run(t, map[string]string{"GATEHOUSE_DATABASE": url, "GATEHOUSE_MASTER_KEY": "x"}, "", "user", "list")
		if r.code == 2 || strings.Contains(r.stderr, "command line") || strings.Contains(r.stderr, secret) {
			t.Errorf("from GATEHOUSE_DATABASE: exit %d, %q", r.code, r.stderr)
		}
	}
	r := run(t, map[string]string{"GATEHOUSE_MASTER_KEY": "x"}, "", "user", "list", "--database", "postgres://gatehouse@127.0.0.1:1/gatehouse")
	if r.code == 2 || strings.Contains(r.stderr, "command line") {
		t.Errorf("without a password: exit %d, %q", r.code, r.stderr)
	}
}
