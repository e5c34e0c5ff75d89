package config_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/internal/config"
)

// endless is a reader that never ends, counting what is read of it.
type endless struct{ n int }

func (e *endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = '#'
	}
	e.n += len(p)
	return len(p), nil
}

// TestFileSizeBound: a tenant file larger than config.MaxFileSize is
// refused with the bound, by Load (as apply -f and serve --tenant read
// it) and by Parse, which reads no more of an endless input than one
// byte past the bound; a file of the bound's size is read.
func TestFileSizeBound(t *testing.T) {
	want := []string{fmt.Sprintf("t.yaml: file is larger than %d bytes", config.MaxFileSize)}
	in := &endless{}
	_, err := config.Parse(in, "t.yaml")
	if diff := cmp.Diff(want, problems(t, err)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if in.n > config.MaxFileSize+1 {
		t.Errorf("read %d bytes of an endless input; want at most %d", in.n, config.MaxFileSize+1)
	}

	head := "tenant: acme\n#"
	atBound := head + strings.Repeat("x", config.MaxFileSize-len(head)-1) + "\n"
	path := filepath.Join(t.TempDir(), "t.yaml")
	for _, tt := range []struct {
		src  string
		want []string
	}{
		{atBound, nil},
		{atBound + "\n", []string{fmt.Sprintf("%s: file is larger than %d bytes", path, config.MaxFileSize)}},
	} {
		if err := os.WriteFile(path, []byte(tt.src), 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := config.Load(path, builtins)
		if tt.want == nil {
			if err != nil || f.Tenant != "acme" {
				t.Errorf("a file of %d bytes: %v", len(tt.src), err)
			}
			continue
		}
		if diff := cmp.Diff(tt.want, problems(t, err)); diff != "" {
			t.Errorf("a file of %d bytes (-want +got):\n%s", len(tt.src), diff)
		}
	}
}
