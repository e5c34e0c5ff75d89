package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store/sqldb"
)

// openCheckpointing opens a store in a new folder whose checkpointer runs
// every so often and restarts the WAL past restart pages (the defaults
// come back at the end of the test).
func openCheckpointing(t *testing.T, every time.Duration, restart int) (*sqldb.DB, string) {
	t.Helper()
	oldEvery, oldRestart := checkpointEvery, restartFrames
	checkpointEvery, restartFrames = every, restart
	t.Cleanup(func() { checkpointEvery, restartFrames = oldEvery, oldRestart })
	dir := t.TempDir()
	s, err := Open(context.Background(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, dir
}

// Commits do not checkpoint (wal_autocheckpoint 0 on every connection);
// the background checkpointer copies the WAL into the database file, and
// stops with Close.
func TestBackgroundCheckpoints(t *testing.T) {
	ctx := context.Background()
	s, dir := openCheckpointing(t, 20*time.Millisecond, restartFrames)
	var auto int
	if err := s.SQL().QueryRowContext(ctx, "PRAGMA wal_autocheckpoint").Scan(&auto); err != nil || auto != 0 {
		t.Fatalf("wal_autocheckpoint = %d, %v; want 0", auto, err)
	}
	size := func() int64 {
		fi, err := os.Stat(filepath.Join(dir, FileName))
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	before := size()
	// Enough pages that they can only reach the database file through a
	// checkpoint.
	for i := range 200 {
		if _, err := s.SQL().ExecContext(ctx, "INSERT INTO settings (name, value) VALUES (?, ?)",
			fmt.Sprintf("k%04d", i), fmt.Sprintf("%0512d", i)); err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(30 * time.Second); size() <= before; { // a hang, not a timing
		if time.Now().After(deadline) {
			t.Fatalf("the database file stayed at %d bytes: no checkpoint", before)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// Under sustained writes the WAL still starts over: a passive checkpoint
// beside a writer that commits without pause never finds the WAL all
// copied, and without the restart the WAL file grew by every page ever
// written.
func TestWALStartsOverUnderSustainedWrites(t *testing.T) {
	ctx := context.Background()
	s, dir := openCheckpointing(t, 5*time.Millisecond, 256)
	const commits = 4000 // three or more pages each: 48 MB of WAL if it never started over
	for i := range commits {
		err := s.Tx(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, "INSERT INTO settings (name, value) VALUES (?, ?)",
				fmt.Sprintf("k%06d", i), fmt.Sprintf("%01000d", i))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	fi, err := os.Stat(filepath.Join(dir, FileName+"-wal"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > 16<<20 {
		t.Fatalf("the WAL file is %d MB after %d commits: it did not start over", fi.Size()>>20, commits)
	}
	var n int
	if err := s.SQL().QueryRowContext(ctx, "SELECT count(*) FROM settings WHERE name LIKE 'k%'").Scan(&n); err != nil || n != commits {
		t.Fatalf("%d rows, %v; want %d", n, err, commits)
	}
}
