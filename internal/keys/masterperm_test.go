package keys_test

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/keys"
)

// TestMasterKeyReadableByOthersRefused: the master key file is created
// for its owner only (0600); one that others may read (a copy, a restore
// that widened it) is refused with what to do, as ssh refuses such a
// private key, and the key is not used.
func TestMasterKeyReadableByOthersRefused(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("file modes are POSIX")
	}
	dir := t.TempDir()
	if _, err := keys.LoadMasterKey("", dir); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, keys.MasterKeyFile)
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("created with mode %#o", fi.Mode().Perm())
	}
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		k, err := keys.LoadMasterKey("", dir)
		if err == nil || k != nil || !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("mode %#o: %v", mode, err)
		}
	}
	if err := os.Chmod(path, 0o400); err != nil {
		t.Fatal(err)
	}
	if _, err := keys.LoadMasterKey("", dir); err != nil {
		t.Errorf("mode 0400: %v", err)
	}
}
