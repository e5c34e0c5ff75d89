package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// TestLogWritesUpstreamTextAsData: text an upstream or a caller chose
// (an upstream's error message with a C1 CSI and a right-to-left
// override, say) reaches the server's log, in either format, with those
// characters escaped, and the JSON log still decodes to the same text.
func TestLogWritesUpstreamTextAsData(t *testing.T) {
	const hostile = "bad \u009b31m \u202e x\u200b"
	for _, format := range []string{"json", "text"} {
		var out bytes.Buffer
		f := serveFlags{logLevel: "info", logFormat: format}
		log, err := f.logger(&Env{Stderr: &out})
		if err != nil {
			t.Fatal(err)
		}
		log.Warn("gateway: upstream stopped; restarting", "upstream", "crm", "err", errors.New("connect: "+hostile), "name", hostile)
		if strings.ContainsAny(out.String(), "\u009b\u202e\u200b") {
			t.Errorf("%s log wrote the characters as they are: %q", format, out.String())
		}
		if format == "json" {
			var rec map[string]any
			if err := json.Unmarshal(out.Bytes(), &rec); err != nil || rec["name"] != hostile || rec["err"] != "connect: "+hostile {
				t.Errorf("json log decodes to %v (%v)", rec, err)
			}
		}
	}
}
