package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadmeTenantExampleApplies: the example tenant file of README.md
// ("## The tenant file", its first yaml block), pasted as an operator
// would, applies.
func TestReadmeTenantExampleApplies(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(b), "## The tenant file")
	if !ok {
		t.Fatal("README.md has no section on the tenant file")
	}
	_, block, ok := strings.Cut(sec, "```yaml\n")
	if !ok {
		t.Fatal("the section has no yaml block")
	}
	block, _, _ = strings.Cut(block, "```")
	f := filepath.Join(t.TempDir(), "acme.yaml")
	if err := os.WriteFile(f, []byte(block), 0o600); err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	if r := run(t, nil, "", "apply", "-f", f, "--data", data); r.code != 0 {
		t.Fatalf("README.md's example tenant file is refused (exit %d):\n%s", r.code, r.stderr)
	}
	r := run(t, nil, "", "tool", "list", "--data", data)
	if r.code != 0 || !strings.Contains(r.stdout, "refund") || !strings.Contains(r.stdout, "sales_report") {
		t.Errorf("the example's tools after apply (exit %d):\n%s%s", r.code, r.stdout, r.stderr)
	}
}
