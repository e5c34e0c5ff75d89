package audit_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/store/postgres"
	"github.com/gatehouse/gatehouse/internal/store/sqldb"
	"github.com/gatehouse/gatehouse/internal/store/sqlite"
	"github.com/gatehouse/gatehouse/internal/store/storetest"
)

// BenchmarkRecord measures the durable writer: many goroutines record a
// typical tool-call event at once, each waiting for its commit, as the
// gateway does. records/s is the throughput; ns/op is per record.
//
//	go test ./internal/audit -run '^$' -bench Record -benchtime 20000x
func BenchmarkRecord(b *testing.B) {
	type backend struct {
		name string
		open func(b *testing.B) *sqldb.DB
	}
	backends := []backend{
		{"sqlite", func(b *testing.B) *sqldb.DB { return openBenchSQLite(b, false) }},
		{"sqlite-syncfull", func(b *testing.B) *sqldb.DB { return openBenchSQLite(b, true) }},
	}
	if os.Getenv("GATEHOUSE_TEST_POSTGRES") != "" {
		backends = append(backends, backend{"postgres", openBenchPostgres})
	}
	ev := audit.Event{Type: audit.ToolDecided, Actor: "alice", Agent: "acme-assistant", Chain: []string{"acme-assistant"},
		Tool: "sales_report", ArgsDigest: "3f1c0a6e3b2b8c1f6f0a7e9d4c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b",
		Decision: "allow", Policy: "role:sales-manager", Reasons: []string{"role sales-manager grants sales_report"},
		SlipID: "9b2f8c1e-5d4a-4c3b-9a2f-1e0d9c8b7a6f", Correlation: "6a1e0c5b-2f3d-4e8a-9b7c-0d1e2f3a4b5c",
		Session: "s-1", TokenID: "at-1", RemoteAddr: "127.0.0.1:53122"}
	for _, bk := range backends {
		for _, par := range []int{1, 16, 64} {
			b.Run(fmt.Sprintf("%s/writers=%d", bk.name, par), func(b *testing.B) {
				st := bk.open(b)
				l := audit.New(st, testKeys, &audit.Options{CheckpointInterval: -1})
				defer l.Close()
				ctx := context.Background()
				b.SetParallelism((par + 1) / 2) // RunParallel starts GOMAXPROCS × this
				b.ReportAllocs()
				b.ResetTimer()
				start := time.Now()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := l.Record(ctx, ev); err != nil {
							b.Error(err)
							return
						}
					}
				})
				el := time.Since(start)
				b.StopTimer()
				st1 := l.Stats()
				b.ReportMetric(float64(b.N)/el.Seconds(), "records/s")
				b.ReportMetric(float64(st1.Records)/float64(max(st1.Batches, 1)), "records/commit")
			})
		}
	}
}

// openBenchSQLite opens a store; syncFull makes every commit fsync the WAL
// (power-loss durable), by running the pragma on the one connection left
// beside the background checkpointer's own.
func openBenchSQLite(b *testing.B, syncFull bool) *sqldb.DB {
	st, err := sqlite.Open(context.Background(), b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	if syncFull {
		st.SQL().SetMaxOpenConns(2)
		// Once the checkpointer holds its own, the pragma lands on the
		// connection every write uses.
		for deadline := time.Now().Add(5 * time.Second); st.SQL().Stats().InUse == 0; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				b.Fatal("the checkpointer took no connection")
			}
		}
		if _, err := st.SQL().Exec("PRAGMA synchronous=FULL"); err != nil {
			b.Fatal(err)
		}
	}
	return st
}

// openBenchPostgres opens a store in a new schema, dropped afterwards.
func openBenchPostgres(b *testing.B) *sqldb.DB {
	base := os.Getenv("GATEHOUSE_TEST_POSTGRES")
	schema := fmt.Sprintf("gh_bench_%d", time.Now().UnixNano())
	admin, err := sql.Open("pgx", base)
	if err != nil {
		b.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if a, err := sql.Open("pgx", base); err == nil {
			a.Exec("DROP SCHEMA " + schema + " CASCADE")
			a.Close()
		}
	})
	st, err := postgres.Open(context.Background(), storetest.WithSearchPath(base, schema), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st
}
