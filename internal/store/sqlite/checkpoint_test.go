package sqlite

import (
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
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

// Under sustained writes, beside readers, the WAL still starts over: the
// background checkpointer copies it into the database file, and once it
// is long enough holds the writers for a RESTART when passive checkpoints
// never find it all copied (SQLite starts it over by itself only when a
// writer finds it so, with no reader on it). Writers and readers that
// never pause run until the WAL has started over twice (its header's
// checkpoint sequence number, which SQLite counts up at each start over).
// The deadline is for a hang and maxCommits bounds the disk a failure
// fills: how many commits it takes depends on how the machine schedules
// the checkpointer. Before, the test bounded the WAL file's size after
// 4,000 commits, which a loaded machine, running the checkpointer late,
// failed (22 MB).
func TestWALStartsOverUnderSustainedWrites(t *testing.T) {
	ctx := context.Background()
	s, dir := openCheckpointing(t, 5*time.Millisecond, 256)
	startsOver := func() uint32 {
		f, err := os.Open(filepath.Join(dir, FileName+"-wal"))
		if err != nil {
			return 0 // not made yet
		}
		defer f.Close()
		var hdr [16]byte
		if _, err := io.ReadFull(f, hdr[:]); err != nil {
			return 0 // no header yet
		}
		return binary.BigEndian.Uint32(hdr[12:16])
	}
	first := startsOver()
	var commits atomic.Int64
	stop := make(chan struct{})
	errs := make(chan error, writers+readers)
	for w := range writers {
		go func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					errs <- nil
					return
				default:
				}
				err := s.Tx(ctx, func(tx *sql.Tx) error {
					_, err := tx.ExecContext(ctx, "INSERT INTO settings (name, value) VALUES (?, ?)",
						fmt.Sprintf("k%d-%07d", w, i), fmt.Sprintf("%01000d", i))
					return err
				})
				if err != nil {
					errs <- err
					return
				}
				commits.Add(1)
			}
		}()
	}
	// Readers too, as a server has (sessions, the catalogue, the trail's
	// queries): SQLite starts the WAL over by itself only at a moment no
	// reader is on it.
	for range readers {
		go func() {
			for {
				select {
				case <-stop:
					errs <- nil
					return
				default:
				}
				var n int
				if err := s.SQL().QueryRowContext(ctx, "SELECT count(*) FROM settings").Scan(&n); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	// The header is read while the checkpointer may be cutting the file
	// back (journal_size_limit): a read that finds none says nothing, so
	// the count is the most seen, in signed arithmetic.
	var started int64
	seen := func() {
		if c := startsOver(); c != 0 {
			started = max(started, int64(c)-int64(first))
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for seen(); started < 2 && time.Now().Before(deadline) && commits.Load() < maxCommits; seen() {
		time.Sleep(time.Millisecond)
	}
	close(stop)
	for range writers + readers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if started < 2 {
		fi, _ := os.Stat(filepath.Join(dir, FileName+"-wal"))
		t.Fatalf("the WAL started over %d times in %d commits (its file is %d MB)", started, commits.Load(), fi.Size()>>20)
	}
	var n int
	if err := s.SQL().QueryRowContext(ctx, "SELECT count(*) FROM settings WHERE name LIKE 'k%'").Scan(&n); err != nil || int64(n) != commits.Load() {
		t.Fatalf("%d rows, %v; want %d", n, err, commits.Load())
	}
	t.Logf("started over twice in %d commits", commits.Load())
}

// writers and readers are how many goroutines commit and read at once
// in TestWALStartsOverUnderSustainedWrites: one always waits for the
// write lock while another commits, and a reader is nearly always on the
// WAL.
const writers, readers = 3, 2

// maxCommits bounds the commits of TestWALStartsOverUnderSustainedWrites
// (about 200 MB of WAL if it never starts over); it takes a few hundred.
const maxCommits = 20_000
