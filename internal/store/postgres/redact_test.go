package postgres

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestNoPasswordInMessages: whatever form the connection string gives a
// password in (the URL's user, a password or sslpassword parameter,
// which the driver takes too, or a keyword/value string), neither Redact
// nor an error opening an unreachable database repeats it.
func TestNoPasswordInMessages(t *testing.T) {
	const secret = "Hunter2-db-secret"
	for _, dsn := range []string{
		"postgres://gatehouse:" + secret + "@127.0.0.1:1/gatehouse?connect_timeout=1",
		"postgres://gatehouse@127.0.0.1:1/gatehouse?password=" + secret + "&connect_timeout=1",
		"postgres://gatehouse@127.0.0.1:1/gatehouse?sslpassword=" + secret + "&connect_timeout=1",
		"postgresql://gatehouse@127.0.0.1:1/gatehouse?PassWord=" + secret + "&connect_timeout=1",
		"host=127.0.0.1 port=1 user=gatehouse password=" + secret + " connect_timeout=1",
		"host=127.0.0.1 port=1 user=gatehouse password='" + secret + "' connect_timeout=1",
	} {
		if r := Redact(dsn); strings.Contains(r, secret) {
			t.Errorf("Redact(%q) = %q", dsn, r)
		}
		_, err := Open(context.Background(), dsn, nil)
		if err == nil {
			t.Fatalf("%s: a database on port 1 answered", dsn)
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("opening %s: the error repeats the password: %v", Redact(dsn), err)
		}
		// And a driver error that quotes the whole string loses it too.
		if e := scrub(errors.New("cannot parse `"+dsn+"`"), dsn); strings.Contains(e.Error(), secret) {
			t.Errorf("scrub kept the password: %v", e)
		}
	}
}

// TestPasswordWrittenOddly: a password with an unencoded @ (the driver and
// Go's URL parser split it at different places) is refused before any
// connection, without repeating it; one written percent-encoded, or with
// + in a query, is hidden also where a message quotes the URL as given.
func TestPasswordWrittenOddly(t *testing.T) {
	_, err := Open(context.Background(), "postgres://gatehouse:Hunter2@db-secret@127.0.0.1:1/gatehouse?connect_timeout=1", nil)
	if err == nil || !strings.Contains(err.Error(), "%40") || strings.Contains(err.Error(), "db-secret") || strings.Contains(err.Error(), "Hunter2") {
		t.Errorf("an unencoded @ in the password: %v", err)
	}
	if _, err := HasStore(context.Background(), "postgres://u:a@b@127.0.0.1:1/x"); err == nil || strings.Contains(err.Error(), "a@b") {
		t.Errorf("HasStore with an unencoded @: %v", err)
	}
	for _, dsn := range []string{
		"postgres://gatehouse:Hunter2%2Fdb-secret@127.0.0.1:1/gatehouse",
		"postgres://gatehouse@127.0.0.1:1/gatehouse?password=Hunter2+db-secret",
	} {
		if e := scrub(errors.New("cannot parse `"+dsn+"`"), dsn); strings.Contains(e.Error(), "db-secret") {
			t.Errorf("scrub kept the password: %v", e)
		}
	}
}

// TestRedactURLWithoutSlashes: a URL written without the // after its
// scheme (postgres:// left out, or only its slashes) parses with all of
// "user:password@host" as its opaque part, which has no user to redact:
// Redact, which the refusal of such a --database quotes, must not repeat
// it.
func TestRedactURLWithoutSlashes(t *testing.T) {
	const secret = "Hunter2-db-secret"
	for _, dsn := range []string{
		"gatehouse:" + secret + "@db.internal:5432/gatehouse",
		"postgres:gatehouse:" + secret + "@db.internal/gatehouse",
		"postgresql:" + secret + "@db.internal/gatehouse",
	} {
		if r := Redact(dsn); strings.Contains(r, secret) {
			t.Errorf("Redact(%q) = %q", dsn, r)
		}
	}
}
