package e2e_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/e2e"
)

// TestSlipsVerifyWithJose: the real slips of a running Gatehouse, behind
// an issuer with a path, pass the checks of docs/slips.md made by a tool
// in JavaScript with jose (interop/slips/jose.mjs), and redeem once.
func TestSlipsVerifyWithJose(t *testing.T) {
	type sent struct {
		Token string `json:"token"`
		Body  string `json:"body"`
	}
	var (
		mu   sync.Mutex
		got  []sent
		reqs = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			mu.Lock()
			got = append(got, sent{tok, string(b)})
			mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"ok":true}`))
		}))
	)
	t.Cleanup(reqs.Close)
	e2e.Node22(t)
	g := e2e.Start(t, `
tenant: acme
roles:
  - name: support
users:
  - username: carol
    email: carol@acme.example
    password: carol-e2e-password
    roles: [support]
clients:
  - client_id: contract-api
    kind: service
    secret: "`+contractSecret+`"
tools:
  - name: refund
    description: Refunds an order
    http: {method: POST, url: "`+reqs.URL+`/refund", client_id: contract-api}
    roles: [support]
`, &e2e.Options{IssuerPath: "/tenants/acme"})

	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	token := mcpToken(t, g, "carol", "carol-e2e-password")
	cs := mcpConnect(ctx, t, g, "gatehouse-e2e-slip-jose", token)
	t.Cleanup(func() { cs.Close() })
	for _, args := range []string{``, `{"amount":12}`,
		` { "b" : [ 1.0, -0, 1E21, 1e-7, 0.000001 ], "a" : { "z" : "\u00e9\u2028/\u0001\ud83d\ude00", "y" : [] } } `,
		`{"\ufb01":1,"😀":2,"z":3,"é":4,"Y":5}`} {
		var a any
		if args != "" {
			a = json.RawMessage(args)
		}
		if res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "refund", Arguments: a}); err != nil || res.IsError {
			t.Fatalf("%s: %v %v", args, err, res)
		}
	}

	in, _ := json.Marshal(map[string]any{"issuer": g.URL, "audience": g.URL + "/tools/refund",
		"clientId": "contract-api", "secret": contractSecret, "slips": got})
	file := filepath.Join(t.TempDir(), "slips.json")
	if err := os.WriteFile(file, in, 0o600); err != nil {
		t.Fatal(err)
	}
	stdout, err := e2e.RunNode(t, 60*time.Second, nil, filepath.Join("slips", "jose.mjs"), file)
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Kids    []string
		Reports []struct {
			Header        struct{ Alg, Typ, Kid string }
			Problems      []string
			First, Second struct {
				Status int
				Body   map[string]any
			}
			Claims map[string]any
		}
	}
	if err := json.Unmarshal([]byte(stdout), &out); err != nil || len(out.Reports) != len(got) {
		t.Fatalf("jose.mjs printed %q (%v)", stdout, err)
	}
	for i, r := range out.Reports {
		if r.Header.Alg != "EdDSA" || r.Header.Typ != "gatehouse-slip+jwt" || !slices.Contains(out.Kids, r.Header.Kid) {
			t.Errorf("slip %d: header %+v, JWKS kids %v", i, r.Header, out.Kids)
		}
		if len(r.Problems) > 0 {
			t.Errorf("slip %d (body %s): %v", i, got[i].Body, r.Problems)
			continue
		}
		if r.First.Status != 200 || r.First.Body["active"] != true || r.First.Body["jti"] != r.Claims["jti"] {
			t.Errorf("slip %d: first introspection %+v", i, r.First)
		}
		if r.Second.Status != 200 || r.Second.Body["active"] != false || len(r.Second.Body) != 1 {
			t.Errorf("slip %d: second introspection %+v, want exactly {\"active\": false}", i, r.Second)
		}
	}
}
