// Package sqlite is the embedded default store: one SQLite file in WAL mode
// in the data folder, through a pure-Go driver so the binary needs no C
// toolchain.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/gatehouse/gatehouse/internal/store/sqldb"
)

//go:embed migrations/*.sql
var migrations embed.FS

// maxIdleConns is how many idle connections the pool keeps.
const maxIdleConns = 32

// FileName is the database file inside the data folder.
const FileName = "gatehouse.db"

// Open opens (creating it if needed) the store in the data folder dir. A
// folder it creates is private to the current user (0700) and so is the
// database file (0600), since it holds password hashes and sealed keys;
// an existing database file that others may read (a restore that kept a
// wider mode) is refused, as the master key file is, rather than written
// to: SQLite gives its WAL the database file's mode.
func Open(ctx context.Context, dir string, opts *sqldb.Options) (*sqldb.DB, error) {
	if err := PrepareDir(dir); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, FileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open database file %s: %w", path, err)
	}
	fi, err := f.Stat()
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("open database file %s: %w", path, err)
	}
	if m := fi.Mode().Perm(); runtime.GOOS != "windows" && m&0o077 != 0 {
		return nil, fmt.Errorf("database file %s is open to others (mode %#o): make it the owner's only (chmod 600 %s*)", path, m, path)
	}
	return OpenFile(ctx, path, opts)
}

// OpenFile opens the store in one database file.
func OpenFile(ctx context.Context, path string, opts *sqldb.Options) (*sqldb.DB, error) {
	q := url.Values{}
	// No checkpoint on commit (wal_autocheckpoint 0): checkpoints runs them
	// in the background.
	for _, p := range []string{fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()), "journal_mode(WAL)", "synchronous(NORMAL)", "foreign_keys(ON)", "wal_autocheckpoint(0)",
		fmt.Sprintf("journal_size_limit(%d)", walSizeLimit)} {
		q.Add("_pragma", p)
	}
	// Write transactions take the lock at BEGIN, so two writers queue on
	// busy_timeout instead of failing when one upgrades a read lock.
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+uriPath.Replace(path)+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	// Keep the connections that concurrent requests opened: database/sql
	// keeps 2 idle ones by default and closes the rest after each use, and
	// opening one (pragmas, schema) and re-preparing the cached statements
	// on it cost more than half of an introspection's CPU at 16 clients.
	// Readers run side by side in WAL mode; writers queue on LockWrites.
	db.SetMaxIdleConns(maxIdleConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	// synchronous=NORMAL in WAL mode: a commit survives the process being
	// killed (it is in the OS's page cache) though not a power cut between
	// checkpoints (audit/doc.go).
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	s, err := sqldb.New(ctx, db, sqldb.Dialect{
		Name:       "sqlite",
		Migrations: sub,
		IsUnique:   isUnique,
		OneWriter:  true,
		Maintain:   checkpoints,
	}, opts)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return s, nil
}

// uriPath escapes what a file: URI does not read as part of the path (a
// ? or # ends it, a % starts an escape): a data folder named "data#1"
// would otherwise have its database opened as the file "data" beside it.
var uriPath = strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23")

// checkpointEvery is how often checkpoints copies the WAL into the
// database file.
var checkpointEvery = 500 * time.Millisecond

// restartFrames is the WAL's length, in pages, past which checkpoints
// makes SQLite start it over (64 MiB of 4 KiB pages); walSizeLimit is the
// size its file is cut back to then.
var restartFrames = 16384

const walSizeLimit = 64 << 20

// catchUpFrames is how many pages may be left to copy when checkpoints
// holds the writers to start the WAL over: the copy under the hold is
// short.
const catchUpFrames = 1024

// checkpointBusy bounds how long the restarting checkpoint waits for
// readers still on the WAL while it holds the writers; when they take
// longer it gives up until the next round.
const checkpointBusy = 20 * time.Millisecond

// checkpoints checkpoints the WAL in the background until ctx ends. With
// SQLite's default, the commit that crosses 1,000 WAL pages runs the
// checkpoint itself (and its fsync) before it returns: every few hundred
// tool calls one paid several milliseconds, the 1-client p99. A PASSIVE
// checkpoint waits for no reader or writer; what it cannot copy yet, the
// next one does. Durability is unchanged: a commit is in the WAL either
// way.
//
// SQLite starts the WAL over only when a writer finds all of it copied,
// which under sustained writes (a commit every millisecond) a checkpoint
// running beside them never achieves: the WAL grew by 290 MB in 12 s of
// tool calls. So once it passes restartFrames, passive checkpoints catch
// up to within catchUpFrames, and then a RESTART checkpoint runs with this
// process's writers held (lockWrites): it copies the rest and waits (at
// most checkpointBusy) for readers to leave the WAL, and the next commit
// writes from its start.
func checkpoints(ctx context.Context, db *sql.DB, lockWrites func() (unlock func())) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return
	}
	defer conn.Close()
	// The connection goes back to the pool at the end: its busy timeout
	// with it.
	defer setBusyTimeout(context.Background(), conn, busyTimeout) //nolint:errcheck
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// A failure (the database busy or closing) is retried next time.
		wal, copied, err := checkpoint(ctx, conn, "PASSIVE")
		if err != nil || wal < restartFrames {
			continue
		}
		for range 8 {
			if wal-copied <= catchUpFrames || err != nil {
				break
			}
			wal, copied, err = checkpoint(ctx, conn, "PASSIVE")
		}
		if err != nil || wal-copied > catchUpFrames {
			continue
		}
		if err := setBusyTimeout(ctx, conn, checkpointBusy); err != nil {
			continue
		}
		unlock := lockWrites()
		_, _, _ = checkpoint(ctx, conn, "RESTART")
		unlock()
		_ = setBusyTimeout(ctx, conn, busyTimeout)
	}
}

// busyTimeout is how long a connection waits for a lock another holds.
const busyTimeout = 10 * time.Second

func setBusyTimeout(ctx context.Context, conn *sql.Conn, d time.Duration) error {
	_, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA busy_timeout = %d", d.Milliseconds()))
	return err
}

// checkpoint runs one checkpoint of mode and returns the WAL's length and
// how much of it is in the database file, in pages.
func checkpoint(ctx context.Context, conn *sql.Conn, mode string) (wal, copied int, err error) {
	var busy int
	err = conn.QueryRowContext(ctx, "PRAGMA wal_checkpoint("+mode+")").Scan(&busy, &wal, &copied)
	return wal, copied, err
}

// PrepareDir creates the data folder if needed and checks that it is
// writable, so that a bad folder is one clear message at start.
func PrepareDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data folder %s cannot be created: %w", dir, errors.Unwrap(err))
	}
	probe, err := os.CreateTemp(dir, ".write-test-*")
	if err != nil {
		return fmt.Errorf("data folder %s is not writable: %w", dir, unwrapPath(err))
	}
	probe.Close()
	os.Remove(probe.Name())
	return nil
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func isUnique(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		c := se.Code()
		return c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}
