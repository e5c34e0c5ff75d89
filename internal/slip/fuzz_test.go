package slip_test

import (
	"context"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/slip"
)

// FuzzIntrospect feeds tokens to what the identity provider's /introspect
// and the executors call: no input panics, and only the genuine slip, once,
// is ever active.
func FuzzIntrospect(f *testing.F) {
	fx := newFixture(f, openSQLite(f))
	genuine, claims, err := fx.m.Mint(slip.Request{Tool: "refund", Args: []byte(`{"amount":12}`), Subject: "alice", Actor: agent()})
	if err != nil {
		f.Fatal(err)
	}
	parts := strings.Split(genuine, ".")
	f.Add(genuine)
	f.Add(parts[0] + "." + parts[1] + ".")
	f.Add(parts[0] + ".e30." + parts[2])
	f.Add("eyJhbGciOiJub25lIiwidHlwIjoiZ2F0ZWhvdXNlLXNsaXArand0In0.e30.")
	f.Add("..")
	f.Add("")
	active := 0
	f.Fuzz(func(t *testing.T, tok string) {
		resp, ok := fx.m.Introspect(context.Background(), tok, "billing-api", true)
		if ok && resp["active"] == true {
			// Only the genuine slip (or a re-encoding of its very bytes),
			// and only once in the whole run.
			if active++; resp["jti"] != claims.JTI || active > 1 {
				t.Fatalf("active answer %d for %q: %v", active, tok, resp)
			}
		}
		if c, err := fx.m.Verify(tok, "refund", []byte(`{"amount":12}`)); err == nil && c.JTI != claims.JTI {
			t.Fatalf("a forged slip verified: %q", tok)
		}
	})
}
