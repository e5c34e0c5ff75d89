package slipverify_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/slip"
	"github.com/gatehouse/gatehouse/slipverify"
)

// argsCases are arguments an agent may send, each as it may be written.
// Every spelling in one case is the same arguments; no two cases are.
var argsCases = [][]string{
	{`{"n":1}`, `{"n":1.0}`, `{"n":1e0}`, `{"n":10E-1}`, `{ "n" : 1 }`},
	{`{"n":100}`, `{"n":1e2}`, `{"n":1E+2}`, `{"n":100.000}`},
	{`{"n":0}`, `{"n":-0}`, `{"n":0.0}`, `{"n":-0.0e5}`},
	{`{"n":1e21}`, `{"n":1e+21}`, `{"n":1000000000000000000000.0}`},
	{`{"n":9007199254740992}`, `{"n":9007199254740992.0}`},
	{`{"n":-9007199254740992}`},
	{`{"n":123456789012345680000}`, `{"n":1.2345678901234568e20}`},
	{`{"n":0.1}`, `{"n":1e-1}`, `{"n":0.10}`},
	{`{"n":1e-7}`, `{"n":0.0000001}`},
	{`{"s":"A/é😀"}`, `{"s":"\u0041\/\u00e9\ud83d\ude00"}`, `{"s":"\u0041\u002f\u00E9\uD83D\uDE00"}`},
	{`{"s":"<>&\u2028"}`, `{"s":"\u003c\u003e\u0026\u2028"}`},
	{`{"s":"\u0000\u001f\t"}`, `{"s":"\u0000\u001F\u0009"}`},
	{`{"a":1,"b":{"d":[],"c":null}}`, `{"b":{"c":null,"d":[]},"a":1}`},
	{`{"\u00e9":1,"e":2}`, `{"e":2,"é":1}`},
	{`{"amount":12}`},
	{`{"Amount":12}`},
	{`{}`, ` { } `},
}

// TestGatewayDigestAgreesWithVerifier mints each case's slip as the
// gateway does (its arguments canonicalized by slipverify.Canonical, the
// digest taken by the Minter) and verifies it with VerifyRequest: it
// accepts every spelling of the same arguments (what Gatehouse sends, the
// agent's own spelling, a proxy's re-serialization through encoding/json)
// and refuses every other case's. So a legitimate call is never refused,
// and no slip covers other arguments.
func TestGatewayDigestAgreesWithVerifier(t *testing.T) {
	d := startDemoIssuer()
	defer d.Close()
	v := newVerifier(d, "refund")
	for i, spellings := range argsCases {
		canon, err := slipverify.Canonical([]byte(spellings[0]))
		if err != nil {
			t.Fatalf("case %d: the gateway refuses %s: %v", i, spellings[0], err)
		}
		var bodies []string
		for _, s := range spellings {
			bodies = append(bodies, s)
			var x any
			dec := json.NewDecoder(strings.NewReader(s))
			dec.UseNumber()
			if dec.Decode(&x) == nil {
				re, _ := json.Marshal(x)
				bodies = append(bodies, string(re))
			}
			var f any
			if json.Unmarshal([]byte(s), &f) == nil {
				re, _ := json.Marshal(f)
				bodies = append(bodies, string(re))
			}
		}
		bodies = append(bodies, string(canon))
		for _, body := range bodies {
			tok, _, err := d.Minter.Mint(slip.Request{Tool: "refund", Args: canon, Subject: "alice", Redeemer: demoClient, Actor: &slipverify.Actor{Sub: "acme-assistant", ClientID: "acme-assistant"}})
			if err != nil {
				t.Fatal(err)
			}
			// Every other case's arguments first: refused, and not spent.
			for j, other := range argsCases {
				if j == i {
					continue
				}
				if _, _, err := v.VerifyRequest(request(tok, other[0])); !errors.Is(err, slipverify.ErrArguments) {
					t.Errorf("slip for %s, body %s: err = %v, want ErrArguments", canon, other[0], err)
				}
			}
			if _, _, err := v.VerifyRequest(request(tok, body)); err != nil {
				t.Errorf("slip for %s, body %s: %v", canon, body, err)
			}
		}
	}
}

// TestVerifyRequestReturnsTheArgumentsChecked: the body VerifyRequest
// returns is the arguments in the canonical form the slip's digest
// covers, not the bytes as they came. Otherwise a body that canonicalizes
// like the slip's arguments but reads otherwise to an exact decoder (a
// number with more digits than a 64-bit float keeps) passes the check and
// runs with other arguments: a slip for account 9007199254740992 (2^53)
// would run for 9007199254740993, sent as 9007199254740993.0.
func TestVerifyRequestReturnsTheArgumentsChecked(t *testing.T) {
	d := startDemoIssuer()
	defer d.Close()
	v := newVerifier(d, "refund")
	for _, tt := range []struct{ minted, sent string }{
		{`{"account":9007199254740992}`, `{"account":9007199254740993.0}`},
		{`{"amount":12}`, `{"amount":12.0000000000000000001}`},
		{`{"amount":1e+21}`, `{"amount":1000000000000000000001.0}`},
		{`{"amount":0}`, `{"amount":-0}`},
	} {
		tok := d.mint("refund", tt.minted)
		c, body, err := v.VerifyRequest(request(tok, tt.sent))
		if err != nil {
			t.Errorf("%s sent for %s: %v", tt.sent, tt.minted, err)
			continue
		}
		call, _ := c.Call()
		if got := slipverify.Digest(body); got != call.ArgsSHA256 {
			t.Errorf("%s sent for %s: VerifyRequest returned %s, which the slip does not cover", tt.sent, tt.minted, body)
		}
		// What a tool decoding exactly reads is what the policy allowed.
		exact := func(b string) string {
			dec := json.NewDecoder(strings.NewReader(b))
			dec.UseNumber()
			var m map[string]json.Number
			if err := dec.Decode(&m); err != nil {
				t.Fatal(err)
			}
			for _, n := range m {
				f, _, err := big.ParseFloat(n.String(), 10, 256, big.ToNearestEven)
				if err != nil {
					t.Fatal(err)
				}
				return f.Text('g', 40)
			}
			return ""
		}
		if got, want := exact(string(body)), exact(tt.minted); got != want {
			t.Errorf("%s sent for %s: the tool reads %s, the slip allowed %s", tt.sent, tt.minted, got, want)
		}
	}
	// What Gatehouse sends comes back byte for byte.
	args := `{"amount":12,"note":"a\/b"}`
	canon, _ := slipverify.Canonical([]byte(args))
	_, body, err := v.VerifyRequest(request(d.mint("refund", args), string(canon)))
	if err != nil || !bytes.Equal(body, canon) {
		t.Errorf("the canonical body: %s, %v", body, err)
	}
}

// request is the request Gatehouse makes of an HTTP tool: the slip as the
// bearer token, body as the arguments.
func request(tok, body string) *http.Request {
	r := httptest.NewRequest("POST", "/refund", strings.NewReader(body))
	r.Header.Set("Authorization", "Bearer "+tok)
	return r
}
