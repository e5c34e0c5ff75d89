package gateway

import "net/http"

// noStore marks every answer of /mcp Cache-Control: no-store. The SDK
// marks its answers no-cache, which lets a cache keep a copy, and what
// /mcp answers is a person's: tool results, their lists, their prompts.
// no-transform stays, so that no proxy rewrites an event stream.
func noStore(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		nw := &noStoreWriter{ResponseWriter: w}
		next.ServeHTTP(nw, r)
		if !nw.set {
			// Nothing written: the server sends the header now.
			w.Header().Set("Cache-Control", "no-store, no-transform")
		}
	})
}

// noStoreWriter sets Cache-Control as the answer's header goes out.
type noStoreWriter struct {
	http.ResponseWriter
	set bool
}

func (w *noStoreWriter) WriteHeader(code int) {
	if !w.set {
		w.set = true
		w.Header().Set("Cache-Control", "no-store, no-transform")
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *noStoreWriter) Write(p []byte) (int, error) {
	if !w.set {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(p)
}

// Flush sends what is written so far (an event stream's events), with
// the header if it has not gone yet.
func (w *noStoreWriter) Flush() {
	if !w.set {
		w.WriteHeader(http.StatusOK)
	}
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection (streams).
func (w *noStoreWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
