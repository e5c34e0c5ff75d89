package tools_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/tools"
)

// aSlip looks like a permission slip (a compact JWS): what the HTTP
// backend sends as the bearer token in these tests.
const aSlip = "eyJhbGciOiJFUzI1NiJ9.eyJqdGkiOiJzbGlwLTEifQ.c2lnbmF0dXJl"

// callAPI calls the HTTP tool refund at url with args through h.
func callAPI(t *testing.T, h *tools.HTTP, method, url, args string) (*mcp.CallToolResult, error) {
	t.Helper()
	return h.Call(context.Background(), aSlip, tools.Call{
		Tool: store.Tool{Name: "refund", HTTP: &store.HTTPBackend{Method: method, URL: url}},
		Args: []byte(args),
	})
}

// shown is everything the agent sees of res: its text and its
// structured content.
func shown(t *testing.T, res *mcp.CallToolResult) string {
	t.Helper()
	b, err := json.Marshal(res.StructuredContent)
	if err != nil {
		t.Fatal(err)
	}
	return text(res) + string(b)
}

// TestHTTPBackendRedirectsNotFollowed: an API answering with a redirect,
// of any kind, to another host, another scheme or its own host, is not
// followed: the slip reaches the API once and nowhere else, even with a
// client of the caller's own that would follow redirects. The agent is
// told the API's status as a tool error.
func TestHTTPBackendRedirectsNotFollowed(t *testing.T) {
	var mu sync.Mutex
	var elsewhere []string
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		elsewhere = append(elsewhere, r.Header.Get("Authorization"))
		mu.Unlock()
	}))
	defer other.Close()
	otherTLS := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		elsewhere = append(elsewhere, r.Header.Get("Authorization"))
		mu.Unlock()
	}))
	defer otherTLS.Close()
	var target string
	var code int
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/self" {
			mu.Lock()
			elsewhere = append(elsewhere, r.Header.Get("Authorization"))
			mu.Unlock()
			return
		}
		w.Header().Set("Location", target)
		w.WriteHeader(code)
	}))
	defer api.Close()
	// A client that follows redirects and trusts the TLS server.
	follows := otherTLS.Client()
	follows.CheckRedirect = nil
	for _, h := range []*tools.HTTP{{}, {Client: follows}} {
		for _, c := range []int{301, 302, 303, 307, 308} {
			for _, to := range []string{other.URL + "/x", otherTLS.URL + "/x", "/self", "//" + strings.TrimPrefix(other.URL, "http://") + "/x"} {
				target, code = to, c
				res, err := callAPI(t, h, "POST", api.URL+"/refund", `{"amount":1}`)
				if err != nil {
					t.Fatalf("%d to %s: %v", c, to, err)
				}
				if !res.IsError || !strings.Contains(text(res), fmt.Sprintf("The tool answered %d", c)) {
					t.Errorf("%d to %s: %+v %q", c, to, res, text(res))
				}
			}
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(elsewhere) != 0 {
		t.Errorf("a redirect was followed %d times (with %q)", len(elsewhere), elsewhere)
	}
}

// TestHTTPBackendArgsStayInBody: the arguments go as the JSON body and
// nowhere else: none of them, whatever it holds (a path, encoded
// slashes, a host, CR LF and a header), changes the URL the API is
// called at or the request's headers.
func TestHTTPBackendArgsStayInBody(t *testing.T) {
	type seen struct {
		host, uri, body string
		header          http.Header
	}
	var got seen
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = seen{r.Host, r.RequestURI, string(b), r.Header.Clone()}
	}))
	defer api.Close()
	hostile := []string{
		`{"id":"../../admin"}`,
		`{"id":"..%2F..%2Fadmin","path":"%2e%2e/x"}`,
		`{"host":"evil.example","url":"http://evil.example/","at":"@evil.example"}`,
		`{"note":"a\r\nX-Injected: 1\r\n\r\nGET / HTTP/1.1"}`,
		`{"q":"?x=1#frag","amp":"&admin=true"}`,
	}
	for _, method := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
		for _, args := range hostile {
			res, err := callAPI(t, &tools.HTTP{}, method, api.URL+"/v1/refund?mode=test", args)
			if err != nil || res.IsError {
				t.Fatalf("%s %s: %v %+v", method, args, err, res)
			}
			if got.host != strings.TrimPrefix(api.URL, "http://") || got.uri != "/v1/refund?mode=test" || got.body != args {
				t.Errorf("%s %s: the API saw host %q, URI %q, body %q", method, args, got.host, got.uri, got.body)
			}
			for k := range got.header {
				switch k {
				case "Authorization", "Content-Type", "Accept", "Accept-Encoding", "User-Agent", "Content-Length":
				default:
					t.Errorf("%s %s: header %s: %q", method, args, k, got.header[k])
				}
			}
			if got.header.Get("Authorization") != "Bearer "+aSlip {
				t.Errorf("%s: Authorization %q", method, got.header.Get("Authorization"))
			}
		}
	}
}

// TestHTTPBackendEndlessAnswer: an API whose answer never ends is read no
// further than the bound; the agent is told the API answered and that
// its answer is not passed on.
func TestHTTPBackendEndlessAnswer(t *testing.T) {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		chunk := bytes.Repeat([]byte("x"), 64<<10)
		for r.Context().Err() == nil {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	defer api.Close()
	res, err := callAPI(t, &tools.HTTP{}, "POST", api.URL, `{}`)
	if err != nil {
		t.Fatal(err)
	}
	if !res.IsError || !strings.Contains(text(res), "larger than") || len(text(res)) > 1000 {
		t.Errorf("an endless answer: %q", text(res)[:min(len(text(res)), 200)])
	}
}

// TestHTTPBackendCompressedBomb: an API answering with a small gzip body
// that unpacks to far more than the bound is held to the bound unpacked.
func TestHTTPBackendCompressedBomb(t *testing.T) {
	var packed bytes.Buffer
	zw := gzip.NewWriter(&packed)
	zero := make([]byte, 1<<20)
	for range 64 {
		zw.Write(zero)
	}
	zw.Close()
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Set("Content-Type", "text/plain")
		w.Write(packed.Bytes())
	}))
	defer api.Close()
	res, err := callAPI(t, &tools.HTTP{}, "POST", api.URL, `{}`)
	if err != nil {
		t.Fatal(err)
	}
	if !res.IsError || !strings.Contains(text(res), "larger than") || len(text(res)) > 1000 {
		t.Errorf("a compressed bomb: %q", text(res)[:min(len(text(res)), 200)])
	}
}

// TestHTTPBackendTricklingAnswer: an API that keeps sending a byte now and
// then, never idle for long but never done, is held to the client's
// whole-call bound: a TimeoutError, the URL not named.
func TestHTTPBackendTricklingAnswer(t *testing.T) {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-r.Context().Done():
				return
			case <-tick.C:
				if _, err := w.Write([]byte("x")); err != nil {
					return
				}
				w.(http.Flusher).Flush()
			}
		}
	}))
	defer api.Close()
	_, err := callAPI(t, &tools.HTTP{Client: &http.Client{Timeout: 200 * time.Millisecond}}, "POST", api.URL+"/refund?key=k", `{}`)
	var late *tools.TimeoutError
	if !errors.As(err, &late) || late.After != 200*time.Millisecond {
		t.Fatalf("a trickling answer: %v, want a TimeoutError", err)
	}
	if strings.Contains(err.Error(), api.URL) || strings.Contains(err.Error(), "key=k") {
		t.Errorf("the error names the URL: %v", err)
	}
}

// TestHTTPBackendAnswerKinds: what the agent sees of answers that are not
// a JSON object, or not a success: the API's text, faithfully, as text;
// structured content only for a JSON object labelled JSON; a status
// outside 2xx a tool error naming the status.
func TestHTTPBackendAnswerKinds(t *testing.T) {
	var status int
	var ctype, body string
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ctype != "" {
			w.Header().Set("Content-Type", ctype)
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	defer api.Close()
	for _, c := range []struct {
		status              int
		ctype, body         string
		isError, structured bool
		want                string
	}{
		{200, "application/json", `[1,2,3]`, false, false, `[1,2,3]`},
		{200, "application/json", `"just a string"`, false, false, `"just a string"`},
		{200, "application/json", `{"a":1} {"b":2}`, false, false, `{"a":1} {"b":2}`},
		{200, "application/json", `{"a":`, false, false, `{"a":`},
		{200, "text/plain", `{"a":1}`, false, false, `{"a":1}`},
		{200, "application/problem+json", `{"a":1}`, false, true, `{"a":1}`},
		{200, "text/html", `<html>ok</html>`, false, false, `<html>ok</html>`},
		{204, "", ``, false, false, ``},
		{400, "application/json", `{"error":"amount must be positive"}`, true, false, `The tool answered 400: {"error":"amount must be positive"}`},
		{404, "", ``, true, false, `The tool answered 404: Not Found`},
		{500, "text/html", "<html>\n<h1>Internal error</h1>\n</html>\n", true, false, "The tool answered 500: <html>\n<h1>Internal error</h1>\n</html>"},
		{503, "text/plain", "  \n", true, false, `The tool answered 503: Service Unavailable`},
	} {
		status, ctype, body = c.status, c.ctype, c.body
		res, err := callAPI(t, &tools.HTTP{}, "POST", api.URL, `{}`)
		if err != nil {
			t.Fatalf("%d %s %q: %v", c.status, c.ctype, c.body, err)
		}
		if res.IsError != c.isError || (res.StructuredContent != nil) != c.structured || text(res) != c.want {
			t.Errorf("%d %s %q: error %v, structured %v, text %q; want %v %v %q",
				c.status, c.ctype, c.body, res.IsError, res.StructuredContent, text(res), c.isError, c.structured, c.want)
		}
	}
}

// TestHTTPBackendSlipNotEchoed: an API that echoes the request's
// Authorization header in its answer (a refusal quoting the token it
// refused, a debug endpoint returning the request) does not have the
// slip passed on to the agent: the package never returns a slip.
func TestHTTPBackendSlipNotEchoed(t *testing.T) {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		switch r.URL.Path {
		case "/refuse":
			http.Error(w, "invalid token: "+auth, http.StatusUnauthorized)
		case "/echo":
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(map[string]any{"headers": map[string]string{"Authorization": auth}, "ok": true})
		case "/redirect":
			w.Header().Set("Location", "https://elsewhere.example/cb?token="+strings.TrimPrefix(auth, "Bearer "))
			w.WriteHeader(http.StatusFound)
			io.WriteString(w, "moved: "+auth)
		}
	}))
	defer api.Close()
	for _, path := range []string{"/refuse", "/echo", "/redirect"} {
		res, err := callAPI(t, &tools.HTTP{}, "POST", api.URL+path, `{}`)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if s := shown(t, res); strings.Contains(s, aSlip) {
			t.Errorf("%s: the agent sees the slip: %s", path, s)
		}
		if path == "/echo" {
			// The rest of the answer is the API's, still JSON.
			h, _ := structured(t, res)["headers"].(map[string]any)
			if res.IsError || h["Authorization"] != "Bearer [permission slip withheld]" || structured(t, res)["ok"] != true {
				t.Errorf("/echo: %+v %q", res.StructuredContent, text(res))
			}
		}
	}
}

// roundTripFunc answers a request without a network.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestHTTPBackendAnswerNotCopiedForSlip: taking an echoed slip out of an
// API's answer costs an answer that does not quote it nothing: every
// allowed call of an HTTP tool goes through it, and an answer may be
// megabytes. A call whose answer holds no slip allocates what a call
// without a slip at all does, not another copy of the answer.
func TestHTTPBackendAnswerNotCopiedForSlip(t *testing.T) {
	answer := bytes.Repeat([]byte("a"), 2<<20)
	h := &tools.HTTP{Client: &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"text/plain"}},
			Body: io.NopCloser(bytes.NewReader(answer)), Request: r}, nil
	})}}
	allocated := func(slip string) uint64 {
		call := func() {
			res, err := h.Call(context.Background(), slip, tools.Call{
				Tool: store.Tool{Name: "refund", HTTP: &store.HTTPBackend{Method: "POST", URL: "http://127.0.0.1:1/refund"}},
				Args: []byte(`{}`),
			})
			if err != nil || res.IsError || len(text(res)) != len(answer) {
				t.Fatalf("slip %q: %v %v", slip, err, res)
			}
		}
		call() // warm up
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		call()
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	without, with := allocated(""), allocated(aSlip)
	if with > without+uint64(len(answer))/2 {
		t.Errorf("a call whose %d-byte answer holds no slip allocated %d bytes, one without a slip %d: the answer is copied", len(answer), with, without)
	}
}
