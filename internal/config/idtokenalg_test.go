package config_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/internal/store/storetest"
)

// A client's id_token_signed_response_alg: one of the key manager's
// algorithms, on a client that gets ID tokens; stored by apply, and a
// change is a change of the plan.
func TestClientIDTokenAlg(t *testing.T) {
	_, err := parse(t, `tenant: acme
clients:
  - client_id: a
    kind: web
    id_token_signed_response_alg: HS256
  - client_id: b
    kind: native
    id_token_signed_response_alg: none
  - client_id: c
    kind: service
    secret: "0123456789abcdef0123456789abcdef"
    id_token_signed_response_alg: EdDSA
  - client_id: d
    kind: agent
    id_token_signed_response_alg: eddsa
`)
	want := []string{
		`t.yaml:5: clients[0].id_token_signed_response_alg: "HS256": must be one of RS256, EdDSA`,
		`t.yaml:8: clients[1].id_token_signed_response_alg: "none": must be one of RS256, EdDSA`,
		`t.yaml:12: clients[2].id_token_signed_response_alg: a service client gets no ID tokens: remove it`,
		`t.yaml:15: clients[3].id_token_signed_response_alg: "eddsa": must be one of RS256, EdDSA`,
	}
	if diff := cmp.Diff(want, problems(t, err)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}

	st := storetest.OpenSQLite(t)
	ctx := context.Background()
	apply := func(alg string) []string {
		t.Helper()
		plan := applySource(t, st, "tenant: acme\nclients:\n  - client_id: app\n    kind: native\n"+
			"    redirect_uris: [\"http://127.0.0.1/cb\"]\n    id_token_signed_response_alg: "+alg+"\n")
		c, err := st.Clients().Get(ctx, "app")
		if err != nil || c.IDTokenSignedResponseAlg != alg {
			t.Fatalf("stored %+v %v, want alg %s", c, err, alg)
		}
		return plan
	}
	apply("EdDSA")
	if got := apply("EdDSA"); len(got) != 0 {
		t.Errorf("the same file again: %q", got)
	}
	if got := apply("RS256"); !cmp.Equal(got, []string{"~ client app (id_token_signed_response_alg)"}) {
		t.Errorf("changed alg: %q", got)
	}
}
