package gateway

import (
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/store"
)

// TestUpstreamHeadersDifferingInCase: two headers_env keys that differ
// only in case (a store written before the tenant file refused them) name
// one header; the gateway would send whichever variable's value its map
// gave last, by chance. It refuses to connect instead, naming the header,
// not the variables or their values.
func TestUpstreamHeadersDifferingInCase(t *testing.T) {
	u := store.Upstream{Name: "up", URL: "http://127.0.0.1:1/mcp",
		HeadersEnv: map[string]string{"Authorization": "GH_TEST_AUTH_ONE", "authorization": "GH_TEST_AUTH_TWO"}}
	lookup := func(name string) (string, bool) {
		return map[string]string{"GH_TEST_AUTH_ONE": "Bearer one", "GH_TEST_AUTH_TWO": "Bearer two"}[name], true
	}
	for range 20 {
		_, err := upstreamClient(u, lookup)
		if err == nil {
			t.Fatal("connected with two variables for one header")
		}
		msg := err.Error()
		if !strings.Contains(msg, "Authorization") {
			t.Errorf("the error does not name the header: %s", msg)
		}
		for _, s := range []string{"GH_TEST_AUTH", "Bearer"} {
			if strings.Contains(msg, s) {
				t.Errorf("the error shows %q: %s", s, msg)
			}
		}
	}
}
