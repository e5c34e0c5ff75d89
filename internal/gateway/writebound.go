package gateway

import (
	"net/http"
	"time"
)

// streamWriteTimeout bounds one write to a caller: an answer, or an event
// of a stream (a call's progress and log messages, list changes, resource
// updates). The gateway writes these in the goroutines that pass an
// upstream's notifications on, one after the other for every caller of
// that upstream session; a caller that keeps its response open but stops
// reading it would otherwise hold each of those writes, and every
// notification behind it, for as long as it stays connected. A write past
// the bound fails, and so does every later one on that connection: the
// caller's stream is cut, and it connects again as after any lost
// stream. The bound runs only while a write is under way: a stream with
// nothing to say is not cut, however long it stays open.
var streamWriteTimeout = 10 * time.Second

// boundedWriter bounds each write and flush of its response by
// streamWriteTimeout. Writers without deadlines (an HTTP/2 stream on
// some transports) go on without.
type boundedWriter struct {
	http.ResponseWriter
	rc *http.ResponseController
}

func boundWrites(w http.ResponseWriter) *boundedWriter {
	return &boundedWriter{ResponseWriter: w, rc: http.NewResponseController(w)}
}

// during runs fn with the write deadline set, and clears it after: the
// server writes the end of the response once the handler returns, and a
// deadline left set would fail that, or a later request's on the same
// connection.
func (w *boundedWriter) during(fn func()) {
	_ = w.rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
	fn()
	_ = w.rc.SetWriteDeadline(time.Time{})
}

func (w *boundedWriter) Write(p []byte) (n int, err error) {
	w.during(func() { n, err = w.ResponseWriter.Write(p) })
	return n, err
}

func (w *boundedWriter) Flush() {
	w.during(func() { _ = w.rc.Flush() })
}

// Unwrap lets http.ResponseController reach the connection.
func (w *boundedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
