package config_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/config"
)

// BenchmarkParse parses tenant files of the shapes that cost the most:
// one mapping of many names (a person's attributes), a tool's input schema
// of many properties, and a list of many short values. Each is about 1 MB;
// run with -benchmem to see the memory.
//
//	go test -run '^$' -bench BenchmarkParse -benchmem ./internal/config/
func BenchmarkParse(b *testing.B) {
	const size = 1 << 20
	shapes := []struct {
		name, head, entry string
	}{
		{"attributes", "tenant: acme\nusers:\n  - username: alice\n    attributes:\n", "      k%d: v\n"},
		{"input_schema", "tenant: acme\ntools:\n  - name: t\n    builtin: sales_report\n    input_schema:\n      type: object\n      properties:\n", "        p%d: {type: number}\n"},
		{"flow_list", "tenant: acme\nusers:\n  - username: alice\n    roles: [a", ",a%.0d"},
	}
	for _, s := range shapes {
		var src strings.Builder
		src.WriteString(s.head)
		for i := 0; src.Len() < size; i++ {
			fmt.Fprintf(&src, s.entry, i)
		}
		if s.name == "flow_list" {
			src.WriteString("]\n")
		}
		b.Run(s.name, func(b *testing.B) {
			b.SetBytes(int64(src.Len()))
			for b.Loop() {
				if _, err := config.Parse(strings.NewReader(src.String()), "t.yaml"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
