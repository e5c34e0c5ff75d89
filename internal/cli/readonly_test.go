package cli_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// dumpStore returns every row of every table of a data folder's
// database, as text, to compare a store before and after a command.
func dumpStore(t *testing.T, data string) string {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(data, "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	rows, err := db.QueryContext(ctx, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		rows.Scan(&n)
		tables = append(tables, n)
	}
	rows.Close()
	var b strings.Builder
	for _, tbl := range tables {
		rows, err := db.QueryContext(ctx, "SELECT * FROM "+tbl+" ORDER BY 1")
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "%s %q\n", tbl, fmt.Sprint(vals...))
		}
		rows.Close()
	}
	return b.String()
}

// TestReadOnlyCommandsWriteNothing: a command that only looks (keys list,
// audit verify, audit export, audit tail, role list) changes nothing in
// the store, even where the store has something due (here a retired key
// whose publication ended while no server ran, its private half not yet
// dropped): the look is not the server's housekeeping.
func TestReadOnlyCommandsWriteNothing(t *testing.T) {
	for _, args := range [][]string{
		{"keys", "list"}, {"audit", "verify"}, {"audit", "export"}, {"audit", "tail"}, {"audit", "trace", "nothing"}, {"role", "list"},
		{"apply", "--dry-run", "-f", testdata + "acme.yaml"},
	} {
		data := t.TempDir()
		d := []string{"--data", data}
		must(t, run(t, nil, "", append([]string{"role", "add", "auditor"}, d...)...))
		must(t, run(t, nil, "", append([]string{"keys", "rotate"}, d...)...))
		// A day and more later: the retired keys' publication ended.
		execSQL(t, data, `UPDATE signing_keys SET doc = json_set(doc, '$.retired_at', '2001-01-01T00:00:00Z', '$.expires_at', '2001-01-02T00:00:00Z')
			WHERE json_extract(doc, '$.retired_at') NOT LIKE '0001-%'`)
		before := dumpStore(t, data)
		run(t, nil, "", append(args, d...)...) // trace finds nothing: exit 1
		if after := dumpStore(t, data); after != before {
			t.Errorf("%v changed the store: %s", args, changedTables(before, after))
		}
	}
}

// changedTables names the tables whose rows differ between two dumps.
func changedTables(before, after string) []string {
	rows := func(dump string) map[string]bool {
		m := map[string]bool{}
		for l := range strings.Lines(dump) {
			m[l] = true
		}
		return m
	}
	b, a := rows(before), rows(after)
	seen := map[string]bool{}
	var out []string
	for _, side := range []struct{ x, y map[string]bool }{{b, a}, {a, b}} {
		for l := range side.x {
			if tbl, _, _ := strings.Cut(l, " "); !side.y[l] && !seen[tbl] {
				seen[tbl] = true
				out = append(out, tbl)
			}
		}
	}
	slices.Sort(out)
	return out
}
