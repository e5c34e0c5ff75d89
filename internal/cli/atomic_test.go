package cli_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/server"
	"github.com/gatehouse/gatehouse/internal/store/storetest"
)

// storeBackend is a store the CLI is pointed at: its flags, and a way to
// run SQL on it behind Gatehouse's back.
type storeBackend struct {
	name  string
	flags []string
	opts  server.StoreOptions
	exec  func(t *testing.T, q string)
}

// cliBackends are a SQLite data folder and, when GATEHOUSE_TEST_POSTGRES
// is set, a PostgreSQL schema of its own.
func cliBackends(t *testing.T) []storeBackend {
	data := t.TempDir()
	out := []storeBackend{{name: "sqlite", flags: []string{"--data", data}, opts: server.StoreOptions{DataDir: data},
		exec: func(t *testing.T, q string) { execSQL(t, data, q) }}}
	base := os.Getenv("GATEHOUSE_TEST_POSTGRES")
	if base == "" {
		return out
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	schema := fmt.Sprintf("gh_cli_atomic_%d", time.Now().UnixNano())
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Exec("DROP SCHEMA " + schema + " CASCADE") })
	url, pgData := storetest.WithSearchPath(base, schema), t.TempDir()
	return append(out, storeBackend{name: "postgres", flags: []string{"--database", url, "--data", pgData},
		opts: server.StoreOptions{DatabaseURL: url, DataDir: pgData},
		exec: func(t *testing.T, q string) {
			t.Helper()
			if _, err := admin.Exec(strings.ReplaceAll(q, "audit_", schema+".audit_")); err != nil {
				t.Fatal(err)
			}
		}})
}

// plantNext writes a record at the seq after the chain head, behind the
// head's back: no append can go on the chain until it is removed.
const plantNext = `INSERT INTO audit_log (seq, at, event, prev, hash, type) SELECT seq + 1, 0, '{}', hash, 'planted', 'planted' FROM audit_head`

// TestNoChangeWithoutItsRecord: when the audit trail cannot take a
// change's record, the change is not made, whatever made it: an admin
// command (adding a user or a role, removing a user), a tenant file, a key
// rotation. Once the trail takes records again, the chain verifies.
func TestNoChangeWithoutItsRecord(t *testing.T) {
	for _, b := range cliBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			c := func(stdin string, args ...string) result {
				return run(t, nil, stdin, append(args, b.flags...)...)
			}
			active := func() []string {
				var kids []string
				for l := range strings.Lines(must(t, c("", "keys", "list")).stdout) {
					if f := strings.Fields(l); len(f) == 4 && f[3] == "active" {
						kids = append(kids, f[0])
					}
				}
				slices.Sort(kids)
				return kids
			}
			must(t, c("", "role", "add", "auditor"))
			must(t, c("", "user", "add", "erin", "--role", "auditor"))
			keysBefore := active()
			b.exec(t, plantNext)

			fails := func(stdin string, args ...string) {
				t.Helper()
				r := c(stdin, args...)
				if r.code == 0 || !strings.Contains(r.stderr, "not") {
					t.Errorf("%v with an unappendable trail: exit %d\n%s%s", args, r.code, r.stdout, r.stderr)
				}
				if strings.Contains(r.stderr, "was made but") || strings.Contains(r.stderr, "applied but") || strings.Contains(r.stderr, "rotated but") {
					t.Errorf("%v: the change was made without its record: %s", args, r.stderr)
				}
				if strings.TrimSpace(r.stdout) != "" && args[0] != "apply" {
					t.Errorf("%v printed a change it did not make: %s", args, r.stdout)
				}
			}
			fails("a good long password\n", "user", "add", "dave", "--role", "auditor", "--password-stdin")
			fails("", "role", "add", "sales")
			fails("", "user", "remove", "erin")
			fails("", "apply", "-f", testdata+"acme.yaml")
			fails("", "keys", "rotate")

			users := must(t, c("", "user", "list")).stdout
			if strings.Contains(users, "dave") || strings.Contains(users, "alice") || !strings.Contains(users, "erin") {
				t.Errorf("users changed without their records:\n%s", users)
			}
			if roles := must(t, c("", "role", "list")).stdout; strings.Contains(roles, "sales") {
				t.Errorf("role added without its record:\n%s", roles)
			}
			if got := active(); !slices.Equal(got, keysBefore) {
				t.Errorf("keys rotated without their record: %v → %v", keysBefore, got)
			}

			b.exec(t, "DELETE FROM audit_log WHERE type = 'planted'")
			must(t, c("", "role", "add", "sales"))
			must(t, c("", "apply", "-f", testdata+"acme.yaml"))
			must(t, c("", "keys", "rotate"))
			if v := must(t, c("", "audit", "verify")).stdout; !strings.HasPrefix(v, "OK") {
				t.Errorf("verify: %s", v)
			}
		})
	}
}

// TestChangesRaceTheServersWriter: while a server's audit writer (a Log on
// the same store) records events, admin commands, a tenant file and a key
// rotation make their changes with their records; the chain stays one
// sequence that verifies, with every record.
func TestChangesRaceTheServersWriter(t *testing.T) {
	for _, b := range cliBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			c := func(args ...string) result { return must(t, run(t, nil, "", append(args, b.flags...)...)) }
			c("role", "add", "auditor") // creates the store and its keys
			ctx := context.Background()
			st, err := server.OpenStore(ctx, b.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			ks, err := server.OpenKeys(ctx, st, b.opts)
			if err != nil {
				t.Fatal(err)
			}
			trail := audit.New(st, ks, &audit.Options{CheckpointInterval: -1})
			stop := make(chan struct{})
			var (
				wg       sync.WaitGroup
				recorded int
			)
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					if err := trail.Record(ctx, audit.Event{Type: audit.ToolDecided, Actor: "alice", Tool: "t", Decision: "allow"}); err != nil {
						t.Error(err)
						return
					}
					recorded++
				}
			}()
			for i := range 5 {
				c("role", "add", fmt.Sprintf("r%d", i))
			}
			c("apply", "-f", testdata+"acme.yaml")
			c("keys", "rotate")
			c("user", "remove", "alice")
			close(stop)
			wg.Wait()
			if err := trail.Close(); err != nil {
				t.Fatal(err)
			}
			v := c("audit", "verify").stdout
			if !strings.HasPrefix(v, "OK") {
				t.Fatalf("verify: %s", v)
			}
			if n := changeCount(t, b.flags); recorded == 0 || n < 8 {
				t.Errorf("%d events recorded by the writer, %d admin changes", recorded, n)
			}
			t.Logf("%d writer events; %s", recorded, strings.TrimSpace(v))
		})
	}
}

// changeCount counts the admin.change records of the store behind flags.
func changeCount(t *testing.T, flags []string) int {
	t.Helper()
	out := must(t, run(t, nil, "", append([]string{"audit", "export", "--type", "admin.change"}, flags...)...)).stdout
	return strings.Count(out, "\n")
}
