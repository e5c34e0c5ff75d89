package cli_test

import (
	"context"
	"database/sql"
	"os"
	"strings"
	"testing"
	"time"

	_ "github.com/gatehouse/gatehouse/internal/store/postgres"
	"github.com/gatehouse/gatehouse/internal/store/storetest"
)

// waitForLockWait waits until a session of this test's application waits
// on a lock in a statement that mentions what.
func waitForLockWait(t *testing.T, db *sql.DB, what string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM pg_stat_activity
			WHERE wait_event_type = 'Lock' AND application_name = 'gh-role-race' AND query LIKE '%' || $1 || '%'`, what).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("nobody waits on a statement holding %q", what)
}

// waitForLockWaiters waits until n sessions of this test's application
// wait on a lock, or until over reports true.
func waitForLockWaiters(t *testing.T, db *sql.DB, n int, over func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		var waiting int
		if err := db.QueryRow(`SELECT count(*) FROM pg_stat_activity
			WHERE wait_event_type = 'Lock' AND application_name = 'gh-role-race'`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting >= n || over() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%d sessions never waited on a lock", n)
}

// TestRoleRemoveRacesUserGrantOnPostgres: on PostgreSQL, `role remove` on
// one host and `user grant` of that role on another, at once, never leave
// a person holding a role that no longer exists (which a role created
// later under that name would silently give them): the commands take the
// tenant's lock before they read what they decide on, so one waits for
// the other and then sees what it did.
func TestRoleRemoveRacesUserGrantOnPostgres(t *testing.T) {
	if os.Getenv("GATEHOUSE_TEST_POSTGRES") == "" && os.Getenv("CI") == "true" {
		t.Fatal("GATEHOUSE_TEST_POSTGRES is not set: PostgreSQL tests are required under CI=true")
	}
	url := storetest.PostgresSchema(t) + "&application_name=gh-role-race"
	d := []string{"--database", url, "--data", t.TempDir()}
	c := func(args ...string) result { return must(t, run(t, nil, "", append(args, d...)...)) }
	c("role", "add", "r")
	c("user", "add", "alice")
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// Hold the audit head, so each command stops at its record: role
	// remove having decided and written, user grant wherever it waits.
	blocker, err := db.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := blocker.Exec("SELECT seq FROM audit_head WHERE id = 1 FOR UPDATE"); err != nil {
		t.Fatal(err)
	}
	removed, granted := make(chan result, 1), make(chan result, 1)
	go func() { removed <- run(t, nil, "", append([]string{"role", "remove", "r"}, d...)...) }()
	waitForLockWait(t, db, "audit_head")
	go func() { granted <- run(t, nil, "", append([]string{"user", "grant", "alice", "r"}, d...)...) }()
	// The grant reaches its wait, wherever it is (the tenant's lock, or a
	// row or the audit head for a grant that did not take it): a second
	// session waiting on a lock, unless the grant is already over.
	waitForLockWaiters(t, db, 2, func() bool { return len(granted) > 0 })
	if err := blocker.Commit(); err != nil {
		t.Fatal(err)
	}
	rr, gr := <-removed, <-granted
	if rr.code != 0 {
		t.Fatalf("role remove: exit %d %s", rr.code, rr.stderr)
	}
	if gr.code == 0 {
		t.Errorf("user grant of a role removed meanwhile succeeded: %q", gr.stdout)
	}
	c("role", "add", "r")
	if u := c("user", "list").stdout; strings.Contains(strings.SplitN(u, "alice", 2)[1], " r ") {
		t.Errorf("a new role r, just created, is already alice's:\n%s", u)
	}
}
