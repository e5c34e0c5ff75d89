package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// stderrRecords are the records a logWriter wrote to buf (JSON lines).
func stderrRecords(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatalf("a record that is not JSON: %q", l)
		}
		out = append(out, m)
	}
	buf.Reset()
	return out
}

// TestStderrLoggedByLineBoundedAndPaced: what a stdio upstream writes to
// its stderr is logged a record per line, each line cut short at
// maxStderrLine, and no more than maxStderrLines records a stderrWindow:
// a program writing its stderr as fast as it can must not flood the
// gateway's log (every line used to be a record, and a record as long as
// a read of the pipe). What is left out is counted in the next record.
func TestStderrLoggedByLineBoundedAndPaced(t *testing.T) {
	var buf bytes.Buffer
	now := time.Unix(1_700_000_000, 0)
	w := newLogWriter(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	w.now = func() time.Time { return now }

	w.Write([]byte("one\ntwo\r\nthree"))
	recs := stderrRecords(t, &buf)
	var texts []string
	for _, r := range recs {
		texts = append(texts, fmt.Sprint(r["text"]))
	}
	if got := strings.Join(texts, "|"); got != "one|two|three" {
		t.Errorf("three lines logged as %q, want one|two|three", got)
	}

	w.Write([]byte(strings.Repeat("x", 100<<10) + "\n"))
	recs = stderrRecords(t, &buf)
	if len(recs) != 1 {
		t.Fatalf("a long line gave %d records, want 1", len(recs))
	}
	if n := len(fmt.Sprint(recs[0]["text"])); n > maxStderrLine+8 {
		t.Errorf("a 100 KiB line logged with %d bytes of text, want at most about %d", n, maxStderrLine)
	}

	now = now.Add(time.Hour) // a new window
	for i := range 10_000 {
		fmt.Fprintf(w, "line %d\n", i)
	}
	recs = stderrRecords(t, &buf)
	if len(recs) > maxStderrLines {
		t.Errorf("10000 lines at once gave %d records, want at most %d", len(recs), maxStderrLines)
	}
	now = now.Add(stderrWindow)
	w.Write([]byte("after\n"))
	recs = stderrRecords(t, &buf)
	var left any
	for _, r := range recs {
		if v, ok := r["left_out"]; ok {
			left = v
		}
	}
	if want := float64(10_000 - maxStderrLines); left != want {
		t.Errorf("records after the flood: %v; want one saying %v lines were left out", recs, want)
	}
}
