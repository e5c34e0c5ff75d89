package gateway_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse/gatehouse/internal/store"
)

// TestHTTPToolSlipNeverShown: whatever an HTTP API tool answers (a
// refusal quoting the token, a redirect carrying it, an answer echoing
// it, a dropped connection, an answer too large), the call's slip is in
// none of what the caller is told, the gateway's log at any level, or
// the audit trail.
func TestHTTPToolSlipNeverShown(t *testing.T) {
	var mu sync.Mutex
	var slips []string
	api := newAPI(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		auth := r.Header.Get("Authorization")
		mu.Lock()
		slips = append(slips, strings.TrimPrefix(auth, "Bearer "))
		mu.Unlock()
		var args struct{ Mode string }
		json.Unmarshal(body, &args)
		switch args.Mode {
		case "refuse":
			http.Error(w, "invalid token: "+auth, http.StatusUnauthorized)
		case "fail":
			http.Error(w, "panic: bad token "+auth, http.StatusInternalServerError)
		case "redirect":
			w.Header().Set("Location", "https://elsewhere.example/?t="+strings.TrimPrefix(auth, "Bearer "))
			w.WriteHeader(http.StatusTemporaryRedirect)
			io.WriteString(w, auth)
		case "echo":
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(map[string]string{"authorization": auth})
		case "drop":
			if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
				conn.Close()
			}
		case "huge":
			io.WriteString(w, auth)
			w.Write(bytes.Repeat([]byte("x"), 5<<20))
		}
	})
	logs := &lockedBuffer{mu: &sync.Mutex{}}
	e := newEnv(t, envOptions{
		tools: []store.Tool{{Name: "refund", Roles: []string{"support"},
			HTTP: &store.HTTPBackend{Method: "POST", URL: api + "/refund?key=k"}}},
		logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	cs := e.connect("carol", "acme-assistant", "2025-11-25")
	var told []string
	for _, mode := range []string{"refuse", "fail", "redirect", "echo", "drop", "huge"} {
		res := call(t, cs, "refund", map[string]any{"mode": mode})
		b, _ := json.Marshal(res)
		told = append(told, mode+": "+string(b))
	}
	trail, err := json.Marshal(e.mem.all())
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(slips) < 6 {
		t.Fatalf("the API saw %d calls, want 6", len(slips))
	}
	for _, s := range slips {
		if s == "" {
			t.Fatal("a call without a slip")
		}
		for _, m := range told {
			if strings.Contains(m, s) {
				t.Errorf("the caller is told the slip: %s", m)
			}
		}
		if strings.Contains(logs.String(), s) {
			t.Errorf("the log has a slip: %s", logs.String())
		}
		if strings.Contains(string(trail), s) {
			t.Errorf("the trail has a slip: %s", trail)
		}
	}
	if strings.Contains(logs.String(), "key=k") || strings.Contains(string(trail), "key=k") {
		t.Errorf("the log or trail has the API's URL query:\n%s\n%s", logs.String(), trail)
	}
}
