package cli_test

import (
	"context"
	"database/sql"
	"os"
	"strings"
	"testing"

	_ "github.com/gatehouse/gatehouse/internal/store/postgres"
	"github.com/gatehouse/gatehouse/internal/store/storetest"
)

// TestUserAddsDifferingOnlyInCaseRaceOnPostgres: on PostgreSQL, 'user add
// alice' on one host and 'user add Alice' on another, at once, do not
// both pass the check that refuses names differing only in case: it runs
// in the command's transaction, under the tenant's lock, so the second
// waits for the first and then sees the name it added.
func TestUserAddsDifferingOnlyInCaseRaceOnPostgres(t *testing.T) {
	if os.Getenv("GATEHOUSE_TEST_POSTGRES") == "" && os.Getenv("CI") == "true" {
		t.Fatal("GATEHOUSE_TEST_POSTGRES is not set: PostgreSQL tests are required under CI=true")
	}
	url := storetest.PostgresSchema(t) + "&application_name=gh-role-race"
	d := []string{"--database", url, "--data", t.TempDir()}
	must(t, run(t, nil, "", append([]string{"role", "add", "r"}, d...)...))
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// Hold the audit head, so the first add stops at its record, having
	// checked and written.
	blocker, err := db.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := blocker.Exec("SELECT seq FROM audit_head WHERE id = 1 FOR UPDATE"); err != nil {
		t.Fatal(err)
	}
	first, second := make(chan result, 1), make(chan result, 1)
	go func() { first <- run(t, nil, "", append([]string{"user", "add", "alice"}, d...)...) }()
	waitForLockWait(t, db, "audit_head")
	go func() { second <- run(t, nil, "", append([]string{"user", "add", "Alice"}, d...)...) }()
	waitForLockWaiters(t, db, 2, func() bool { return len(second) > 0 })
	if err := blocker.Commit(); err != nil {
		t.Fatal(err)
	}
	r1, r2 := <-first, <-second
	if r1.code != 0 {
		t.Fatalf("user add alice: exit %d %s", r1.code, r1.stderr)
	}
	if r2.code == 0 || !strings.Contains(r2.stderr, `differs only in case from user "alice"`) {
		t.Errorf("user add Alice beside alice, at once: exit %d, stderr %q", r2.code, r2.stderr)
	}
}
