package cli_test

import (
	"database/sql"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	_ "github.com/gatehouse/gatehouse/internal/store/postgres" // the pgx driver
	"github.com/gatehouse/gatehouse/internal/store/storetest"
)

// TestAuditCommandsNeedAStoreOnPostgres: pointed at a PostgreSQL database
// (here a schema) that exists but holds no store, 'audit verify' refuses
// it instead of creating a store there and calling its empty trail OK.
func TestAuditCommandsNeedAStoreOnPostgres(t *testing.T) {
	base := os.Getenv("GATEHOUSE_TEST_POSTGRES")
	if base == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("GATEHOUSE_TEST_POSTGRES is not set: PostgreSQL tests are required under CI=true")
		}
		t.Skip("GATEHOUSE_TEST_POSTGRES is not set")
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	schema := fmt.Sprintf("gh_cli_%d", time.Now().UnixNano())
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Exec("DROP SCHEMA " + schema + " CASCADE") })
	url := storetest.WithSearchPath(base, schema)
	data := t.TempDir() // the master key's folder
	r := run(t, nil, "", "audit", "verify", "--database", url, "--data", data)
	if r.code != 1 || !strings.Contains(r.stderr, "holds no Gatehouse store") || strings.Contains(r.stdout, "OK") {
		t.Errorf("verify on an empty database: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	var tables int
	if err := admin.QueryRow(`SELECT count(*) FROM information_schema.tables WHERE table_schema = $1`, schema).Scan(&tables); err != nil || tables != 0 {
		t.Errorf("verify created %d tables (%v)", tables, err)
	}
	must(t, run(t, nil, "", "role", "add", "auditor", "--database", url, "--data", data))
	if v := must(t, run(t, nil, "", "audit", "verify", "--database", url, "--data", data)).stdout; !strings.HasPrefix(v, "OK") {
		t.Errorf("verify on a store: %s", v)
	}
}
