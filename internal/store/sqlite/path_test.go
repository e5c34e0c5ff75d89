package sqlite

import (
	"context"
	"os"
	"path/filepath"
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
