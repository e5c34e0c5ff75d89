package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/audit"
)

// TestReportNamesLeftovers: records a pruning left behind its checkpoint
// (it was stopped mid-delete) are named after the OK line, not hidden.
func TestReportNamesLeftovers(t *testing.T) {
	var out bytes.Buffer
	printReport(&Env{Stdout: &out}, audit.Report{OK: true, Records: 3, First: 6, Last: 8, Leftovers: 2,
		Anchor: &audit.Checkpoint{Seq: 5}})
	if got := out.String(); !strings.HasPrefix(got, "OK: 3 records") || !strings.Contains(got, "\nNOTE: 2 record(s) before the pruning checkpoint are left of a pruning that did not finish") {
		t.Errorf("report:\n%s", got)
	}
}
