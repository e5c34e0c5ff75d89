package cli_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/password"
)

// TestApplyPutsBackAnImportedHashAfterPasswd: apply keeps a hash a sign-in
// made again from the one the file imported (same password), but a
// password set with 'user passwd' is another password: the file, applied
// again, sets its hash back, as it does for any change made beside it.
func TestApplyPutsBackAnImportedHashAfterPasswd(t *testing.T) {
	data, f, _ := applyImportedHash(t)
	must(t, run(t, nil, "a password set beside the file\n", "user", "passwd", "dave", "--data", data))
	r := must(t, run(t, nil, "", "apply", "-f", f, "--data", data))
	if !strings.Contains(r.stdout, "~ user dave (password") {
		t.Errorf("apply after 'user passwd' said: %q, want the imported hash set back", r.stdout)
	}
}

// TestImportedHashNotInTheTrail: the digest apply keeps of an imported
// password_hash (store.User.ImportedHash) is redacted in the admin.change
// records, as the hash itself is: it tells whether a person's hash is a
// given one, which the trail's readers have no need to know.
func TestImportedHashNotInTheTrail(t *testing.T) {
	data, _, imported := applyImportedHash(t)
	sum := sha256.Sum256([]byte(imported))
	out := must(t, run(t, nil, "", "audit", "export", "--data", data)).stdout
	if !strings.Contains(out, `"dave"`) {
		t.Fatalf("no record of dave in the trail:\n%s", out)
	}
	if strings.Contains(out, hex.EncodeToString(sum[:])) || strings.Contains(out, imported) {
		t.Errorf("the trail holds the imported hash or its digest:\n%s", out)
	}
}

// applyImportedHash applies, to a new data folder, a tenant file whose one
// person (dave) has an imported password hash, and returns the folder, the
// file and the hash.
func applyImportedHash(t *testing.T) (data, file, imported string) {
	t.Helper()
	data = t.TempDir()
	imported, err := password.HashWith("the imported password", password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})
	if err != nil {
		t.Fatal(err)
	}
	file = filepath.Join(t.TempDir(), "tenant.yaml")
	if err := os.WriteFile(file, fmt.Appendf(nil, "tenant: acme\nusers:\n  - username: dave\n    password_hash: %q\n", imported), 0o600); err != nil {
		t.Fatal(err)
	}
	must(t, run(t, nil, "", "apply", "-f", file, "--data", data))
	return data, file, imported
}
