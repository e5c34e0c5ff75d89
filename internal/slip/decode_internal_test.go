package slip

import (
	"encoding/base64"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/gatehouse/gatehouse/slipverify"
)

// claimsSeeds are payloads decodeClaims must read as slipverify does:
// what a Minter writes, and each way a payload can differ from that.
var claimsSeeds = []string{
	`{"iss":"https://gh.test","sub":"alice","aud":"https://gh.test/tools/refund","act":{"sub":"bot","client_id":"bot"},"scope":"tool:refund","authorization_details":[{"type":"gatehouse_tool_call","tool":"refund","args_sha256":"00"}],"jti":"j1","iat":100,"exp":130,"txn":"c1"}`,
	`{"iss":"https://gh.test","sub":"alice","aud":["https://gh.test/tools/refund"],"jti":"j1","iat":100,"exp":130}`,
	`{"iss":"https://gh.test","ISS":"https://evil.test","sub":"alice","jti":"j1","iat":100,"exp":130}`,
	`{"sub":"alice","Sub":"mallory","aud":"a"}`,
	`{"sub":"alice","sub":"mallory","aud":"a"}`,
	`{"aud":"a","authorization_details":[{"type":"gatehouse_tool_call","TOOL":"other","tool":"refund"}]}`,
	`{"aud":"a","act":{"sub":"bot","act":{"sub":"outer","CLIENT_ID":"x"}}}`,
	"{\"sub\":\"al\xffice\",\"aud\":\"a\"}",
	`{"sub":"alice","aud":"a","extra":{"nested":[1,2,3]}}`,
	`{"sub":"alice","aud":"a","iat":1.5}`,
	`{"sub":"alice","aud":"a","iat":null,"act":null}`,
	`{"ſub":"alice","aud":"a"}`,
	`{"aud":"a"} trailing`,
	`[]`,
	``,
}

// FuzzDecodeClaims: decodeClaims, whose fast path is encoding/json/v2,
// accepts and refuses what slipverify does (slipverify.CheckNames, then
// encoding/json) and reads the same claims: its fast path takes no
// payload that CheckNames refuses.
func FuzzDecodeClaims(f *testing.F) {
	for _, s := range claimsSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		tok := slipToken(payload)
		if len(tok) > 16<<10 {
			t.Skip("longer than any token the tenant's keys verify")
		}
		var want slipverify.Claims
		werr := slipverify.CheckNames(tok)
		if werr == nil {
			werr = json.Unmarshal(payload, &want)
		}
		got, err := decodeClaims(tok, payload)
		if (err == nil) != (werr == nil) {
			t.Fatalf("%q: decodeClaims error %v, slipverify's %v", payload, err, werr)
		}
		if err == nil && !reflect.DeepEqual(*got, want) {
			t.Fatalf("%q: decodeClaims read\n%+v\nencoding/json\n%+v", payload, *got, want)
		}
	})
}

// slipToken is a compact JWS of payload under a slip's header, with a
// signature nothing here checks.
func slipToken(payload []byte) string {
	enc := base64.RawURLEncoding
	h := enc.EncodeToString([]byte(`{"alg":"EdDSA","kid":"k1","typ":"gatehouse-slip+jwt"}`))
	return h + "." + enc.EncodeToString(payload) + "." + enc.EncodeToString(make([]byte, 64))
}

// TestDecodeClaimsOfAMintedSlip: every member a Minter writes is read.
func TestDecodeClaimsOfAMintedSlip(t *testing.T) {
	c := slipverify.Claims{Issuer: "https://gh.test", Subject: "alice", Audience: "https://gh.test/tools/refund",
		Actor: &slipverify.Actor{Sub: "bot", ClientID: "bot", Act: &slipverify.Actor{Sub: "outer"}}, Scope: "tool:refund",
		AuthorizationDetails: []slipverify.Detail{{Type: slipverify.DetailType, Tool: "refund", ArgsSHA256: "ab", Redeemer: "api"}},
		JTI:                  "j1", IssuedAt: 100, Expiry: 130, Transaction: "c1"}
	minted, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeClaims(slipToken(minted), minted)
	if err != nil || !reflect.DeepEqual(*got, c) {
		t.Fatalf("a minted payload: %+v, %v", got, err)
	}
}
