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

// TestUpstreamHeaderVariableEmpty: a credential variable that is set but
// empty is refused as empty, not as "not set", which would send the
// operator looking for a variable their environment shows; neither the
// variable's name nor a value is in the error.
func TestUpstreamHeaderVariableEmpty(t *testing.T) {
	u := store.Upstream{Name: "up", URL: "http://127.0.0.1:1/mcp",
		HeadersEnv: map[string]string{"X-Api-Key": "GH_TEST_EMPTY_KEY"}}
	_, err := upstreamClient(u, func(string) (string, bool) { return "", true })
	if err == nil {
		t.Fatal("connected with an empty credential")
	}
	if msg := err.Error(); !strings.Contains(msg, "X-Api-Key header (headers_env) is empty") || strings.Contains(msg, "GH_TEST_EMPTY_KEY") {
		t.Errorf("error: %s", msg)
	}
	_, err = upstreamClient(u, func(string) (string, bool) { return "", false })
	if err == nil || !strings.Contains(err.Error(), "X-Api-Key header (headers_env) is not set") {
		t.Errorf("unset: %v", err)
	}
}
