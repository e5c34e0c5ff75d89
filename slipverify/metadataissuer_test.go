package slipverify_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/gatehouse/gatehouse/slipverify"
)

// TestMetadataOfAnotherIssuerNotUsed: the document found at the issuer's
// metadata URL names another issuer (a redirect followed to another
// server, a host serving another tenant's metadata). RFC 8414 §3.3: its
// data must not be used. Before, its introspection endpoint was, and the
// slip and the tool's client secret went there.
func TestMetadataOfAnotherIssuerNotUsed(t *testing.T) {
	d := startDemoIssuer()
	defer d.Close()
	var got atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/.well-known/oauth-authorization-server" {
			json.NewEncoder(w).Encode(map[string]string{"issuer": "https://other.example",
				"jwks_uri": d.URL + "/jwks", "introspection_endpoint": "http://" + r.Host + "/introspect"})
			return
		}
		got.Add(1) // the slip and the client's secret
		json.NewEncoder(w).Encode(map[string]any{"active": true})
	}))
	defer other.Close()
	d.Config.Handler = redirectMetadata(d.Config.Handler, other.URL)

	v := newVerifier(d, "refund")
	args := `{"amount":12}`
	_, err := v.Verify(t.Context(), d.mint("refund", args), []byte(args))
	if !errors.Is(err, slipverify.ErrUnavailable) {
		t.Errorf("Verify = %v, want ErrUnavailable", err)
	}
	if n := got.Load(); n != 0 {
		t.Errorf("the slip went to the other issuer's introspection endpoint (%d requests)", n)
	}
}

// redirectMetadata sends the metadata request on to another server.
func redirectMetadata(h http.Handler, to string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/.well-known/oauth-authorization-server" {
			http.Redirect(w, r, to+r.URL.Path, http.StatusFound)
			return
		}
		h.ServeHTTP(w, r)
	})
}
