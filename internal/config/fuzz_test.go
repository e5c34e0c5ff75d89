package config_test

import (
	"os"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/config"
)

// FuzzParse feeds arbitrary bytes to the tenant-file parser and validator:
// they may refuse, never panic.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"testdata/acme.yaml", "testdata/three-mistakes.yaml"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add("tenant: [\n")
	f.Add("a: &x [*x]\n")
	f.Add(billionLaughs())
	f.Fuzz(func(t *testing.T, src string) {
		file, err := config.Parse(strings.NewReader(src), "f.yaml")
		if err != nil {
			if err.Error() == "" {
				t.Error("empty error")
			}
			return
		}
		_ = file.Validate(builtins)
	})
}
