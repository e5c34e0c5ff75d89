package cli_test

import (
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
	data := t.TempDir()
	imported, err := password.HashWith("the imported password", password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "tenant.yaml")
	if err := os.WriteFile(f, fmt.Appendf(nil, "tenant: acme\nusers:\n  - username: dave\n    password_hash: %q\n", imported), 0o600); err != nil {
		t.Fatal(err)
	}
	must(t, run(t, nil, "", "apply", "-f", f, "--data", data))
	must(t, run(t, nil, "a password set beside the file\n", "user", "passwd", "dave", "--data", data))
	r := must(t, run(t, nil, "", "apply", "-f", f, "--data", data))
	if !strings.Contains(r.stdout, "~ user dave (password") {
		t.Errorf("apply after 'user passwd' said: %q, want the imported hash set back", r.stdout)
	}
}
