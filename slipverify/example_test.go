package slipverify_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/gatehouse/gatehouse/slipverify"
)

// A refund API that Gatehouse calls as an HTTP tool checks the slip that
// comes with each call, then does the work. A second delivery of the same
// slip is refused.
func ExampleVerifier_VerifyRequest() {
	gatehouse := startDemoIssuer() // the issuer: metadata, JWKS, introspection
	defer gatehouse.Close()

	v := &slipverify.Verifier{
		Issuer:       gatehouse.URL,
		Audience:     slipverify.ToolAudience(gatehouse.URL, "refund"),
		ClientID:     "billing-api",
		ClientSecret: "a long random secret of 32+ chars",
	}
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		slip, args, err := v.VerifyRequest(r)
		switch {
		case errors.Is(err, slipverify.ErrUnavailable):
			// Not known to be unused: refuse for now, never run.
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		case err != nil:
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		fmt.Fprintf(w, "refund %s for %s, asked by %s", args, slip.Subject, slip.Actor.ClientID)
	}))
	defer api.Close()

	// What Gatehouse sends: the slip as bearer token, the arguments as body.
	token := gatehouse.mint("refund", `{"amount": 12}`)
	for range 2 {
		req, _ := http.NewRequest("POST", api.URL, strings.NewReader(`{"amount":12}`))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Print(resp.StatusCode, " ", string(body))
	}
	// Output:
	// 200 refund {"amount":12} for alice, asked by acme-assistant401 permission slip already used
}

// A worker that takes tool calls from a queue (the slip and the arguments
// as they were enqueued, in some other spelling) checks the slip with
// Verify, then works on the canonical form of the arguments, the bytes the
// slip's digest covers: not on the text it was handed, which reads
// otherwise to an exact decoder.
func ExampleVerifier_Verify() {
	gatehouse := startDemoIssuer()
	defer gatehouse.Close()

	v := &slipverify.Verifier{
		Issuer:       gatehouse.URL,
		Audience:     slipverify.ToolAudience(gatehouse.URL, "refund"),
		ClientID:     "billing-api",
		ClientSecret: "a long random secret of 32+ chars",
	}
	token := gatehouse.mint("refund", `{"order":9007199254740992}`)
	queued := []byte(`{ "order": 9007199254740993.0 }`)

	if _, err := v.Verify(context.Background(), token, queued); err != nil {
		fmt.Println("refused:", err)
		return
	}
	args, err := slipverify.Canonical(queued)
	if err != nil {
		panic(err) // Verify canonicalized them already
	}
	fmt.Printf("refund for %s", args)
	// Output:
	// refund for {"order":9007199254740992}
}
