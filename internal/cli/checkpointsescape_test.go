package cli_test

import (
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/audit"
)

// TestCheckpointsExportEscapesInvisible: 'audit checkpoints' writes the
// characters a terminal may act on (C1 controls such as CSI, bidirectional
// overrides, zero-width characters) in a signed checkpoint's kind as \u
// escapes, as verify --json, tail --json and export do; the copy reads
// back with the kind as signed. It used to write them raw.
func TestCheckpointsExportEscapesInvisible(t *testing.T) {
	const hostile = "manual\u009b2J\u202eevil\u200b\u007f"
	data := hostileCheckpoint(t, 1, hostile)
	d := []string{"--data", data}

	r := must(t, run(t, nil, "", append([]string{"audit", "checkpoints"}, d...)...))
	if i := strings.IndexAny(r.stdout, "\u009b\u202e\u200b\u007f"); i >= 0 {
		t.Errorf("audit checkpoints wrote an invisible character raw at byte %d:\n%q", i, r.stdout)
	}
	cs, err := audit.ParseCheckpoints(strings.NewReader(r.stdout))
	if err != nil {
		t.Fatalf("the copy does not read back: %v\n%s", err, r.stdout)
	}
	found := false
	for _, c := range cs {
		found = found || c.Kind == hostile
	}
	if !found {
		t.Errorf("the kind is not in the copy as it was signed:\n%s", r.stdout)
	}
}
