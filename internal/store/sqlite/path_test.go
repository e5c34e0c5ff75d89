package sqlite

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDataFolderWithURICharacters: the database is opened through a
// file: URI, where ?, # and % are not part of the path. A data folder
// whose name holds one still gets its database in it: not in a file
// beside it named by the part before the ? or # (created with the
// default mode, 0644, outside the private folder), and not refused.
func TestDataFolderWithURICharacters(t *testing.T) {
	ctx := context.Background()
	for _, name := range []string{"data#1", "a?b", "100%25", "50%", "x%3Fy"} {
		parent := t.TempDir()
		dir := filepath.Join(parent, name)
		s, err := Open(ctx, dir, nil)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		var file string
		err = s.SQL().QueryRowContext(ctx, "SELECT file FROM pragma_database_list WHERE name = 'main'").Scan(&file)
		s.Close()
		if err != nil {
			t.Fatal(err)
		}
		if want := filepath.Join(dir, FileName); file != want {
			t.Errorf("%s: the database is %s, want %s", name, file, want)
		}
		if es, _ := os.ReadDir(parent); len(es) != 1 {
			t.Errorf("%s: %d entries beside the data folder, want only it", name, len(es))
		}
	}
}

// TestDatabaseFileOpenToOthersRefused: a database file others may read
// (restored with a wider mode) is refused with the fix named, as the
// master key file is, and nothing is written to it; one of the owner's
// only opens.
func TestDatabaseFileOpenToOthersRefused(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	path := filepath.Join(dir, FileName)
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	before, _ := os.Stat(path)
	if s, err := Open(ctx, dir, nil); err == nil {
		s.Close()
		t.Fatal("a database file of mode 0644 was opened")
	} else if !strings.Contains(err.Error(), "open to others") || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("refusal %q, want the mode and the fix named", err)
	}
	if after, _ := os.Stat(path); !after.ModTime().Equal(before.ModTime()) || after.Size() != before.Size() {
		t.Error("the refused database file was written to")
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err = Open(ctx, dir, nil)
	if err != nil {
		t.Fatalf("after chmod 600: %v", err)
	}
	s.Close()
}
