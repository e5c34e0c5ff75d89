package gateway_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// newAPI starts an HTTP tool API and returns its URL.
func newAPI(t *testing.T, fn func(w http.ResponseWriter, r *http.Request, body []byte)) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fn(w, r, b)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func ioNopCloser(b []byte) io.ReadCloser { return io.NopCloser(bytes.NewReader(b)) }
