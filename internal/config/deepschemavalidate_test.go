package config_test

import (
	"runtime"
	"strings"
	"testing"
)

// TestDeepInputSchemaRefusedCheaply: a tool's input schema nested
// thousands of levels deep ({not: {not: …}}) is refused when the file is
// validated, naming the schema and the bound, at a cost that does not grow
// with the square of the depth. Before, the schema library decoded each
// level again for every level above it: a 66 KB file nested 9,500 deep
// allocated 19 GB and kept apply (and serve --tenant) busy for most of a
// minute before it was taken.
func TestDeepInputSchemaRefusedCheaply(t *testing.T) {
	for _, kw := range []string{"not", "items", "allOf"} {
		open, close := "{"+kw+": ", "}"
		if kw == "allOf" {
			open, close = "{allOf: [", "]}"
		}
		src := "tenant: acme\ntools:\n  - name: t\n    builtin: sales_report\n    input_schema:\n      type: object\n" +
			"      properties:\n        x: " + strings.Repeat(open, 2000) + "{}" + strings.Repeat(close, 2000) + "\n"
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, err := parse(t, src)
		runtime.ReadMemStats(&after)
		if err == nil || !strings.Contains(err.Error(), "t.yaml:6: tools[0].input_schema: cannot check arguments: is nested more than 100 levels deep") {
			t.Errorf("%s nested 2000 deep: %v, want it refused for its depth", kw, err)
		}
		if n := after.TotalAlloc - before.TotalAlloc; n > 64<<20 {
			t.Errorf("%s nested 2000 deep: validating a %d-byte file allocated %d MB", kw, len(src), n>>20)
		}
	}
	// A schema of a sensible depth is taken.
	src := "tenant: acme\ntools:\n  - name: t\n    builtin: sales_report\n    input_schema:\n      type: object\n" +
		"      properties:\n        x: " + strings.Repeat("{type: object, properties: {y: ", 20) + "{type: string}" + strings.Repeat("}}", 20) + "\n"
	if _, err := parse(t, src); err != nil {
		t.Errorf("a schema 40 levels deep: %v", err)
	}
}
