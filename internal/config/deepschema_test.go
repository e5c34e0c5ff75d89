package config_test

import (
	"runtime"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/config"
)

// TestDeepNestingCostsALevelAtATime: a tool's input schema nested
// thousands of levels deep (the parser allows 10,000) is read at a cost
// of a level at a time. Each level's path was written out whole before
// anything was found wrong: an 18 KB file allocated 263 MB, and a tenant
// file of the largest size kept apply busy for a minute or more.
func TestDeepNestingCostsALevelAtATime(t *testing.T) {
	src := "tenant: acme\ntools:\n  - name: t\n    builtin: sales_report\n    input_schema:\n      type: object\n" +
		"      x: " + strings.Repeat("[", 9000) + strings.Repeat("]", 9000) + "\n"
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if _, err := config.Parse(strings.NewReader(src), "t.yaml"); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > 32<<20 {
		t.Errorf("parsing a %d-byte file nested 9000 deep allocated %d MB", len(src), n>>20)
	}
}
