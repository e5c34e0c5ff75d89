package slipverify_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"sync/atomic"

	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/slip"
	"github.com/gatehouse/gatehouse/internal/store/sqlite"
	"github.com/gatehouse/gatehouse/slipverify"
)

// demoIssuer is a Gatehouse stand-in for tests and examples: the real slip
// minter and keys behind the three endpoints a tool uses (metadata, JWKS,
// introspection), with one service client, billing-api.
type demoIssuer struct {
	*httptest.Server
	Minter   *slip.Minter
	Keys     *keys.Manager
	JWKSHits atomic.Int32
	close    func()
}

const (
	demoClient = "billing-api"
	demoSecret = "a long random secret of 32+ chars"
)

func startDemoIssuer() *demoIssuer {
	dir, err := os.MkdirTemp("", "slipverify")
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	st, err := sqlite.Open(ctx, dir, nil)
	if err != nil {
		panic(err)
	}
	master := make([]byte, 32)
	rand.Read(master)
	sealer, _ := keys.NewSealer(master)
	km, err := keys.Open(ctx, st, sealer, nil)
	if err != nil {
		panic(err)
	}
	d := &demoIssuer{Keys: km}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{
			"issuer":                 d.URL,
			"jwks_uri":               d.URL + "/jwks",
			"introspection_endpoint": d.URL + "/introspect",
		})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		d.JWKSHits.Add(1)
		w.Write(km.JWKS())
	})
	mux.HandleFunc("POST /introspect", func(w http.ResponseWriter, r *http.Request) {
		// RFC 6749 section 2.3.1: the credentials are form-encoded first.
		id, secret, ok := r.BasicAuth()
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
		if !ok || id != demoClient || secret != demoSecret {
			w.WriteHeader(http.StatusUnauthorized)
			json.NewEncoder(w).Encode(map[string]string{"error": "invalid_client"})
			return
		}
		resp, ok := d.Minter.Introspect(r.Context(), r.PostFormValue("token"), id, true)
		if !ok {
			resp = map[string]any{"active": false}
		}
		json.NewEncoder(w).Encode(resp)
	})
	d.Server = httptest.NewServer(mux)
	d.Minter = &slip.Minter{Issuer: d.URL, Keys: km, Store: st}
	d.close = func() { st.Close(); os.RemoveAll(dir) }
	return d
}

func (d *demoIssuer) Close() {
	d.Server.Close()
	d.close()
}

// mint returns a slip for one call of tool with args, made by the agent
// acme-assistant for alice.
func (d *demoIssuer) mint(tool, args string) string {
	canon, err := slipverify.Canonical([]byte(args))
	if err != nil {
		panic(err)
	}
	tok, _, err := d.Minter.Mint(slip.Request{
		Tool: tool, Args: canon, Subject: "alice", Redeemer: demoClient,
		Actor: &slipverify.Actor{Sub: "acme-assistant", ClientID: "acme-assistant"},
	})
	if err != nil {
		panic(err)
	}
	return tok
}
