package slipverify_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/slipverify"
)

// TestVerifyRefusesAmbiguousClaimNames: a signed slip whose claims name a
// member twice, or in another case than the claim's name, reads otherwise
// to other JWT libraries (which keep the first of duplicates, or match
// names exactly) than to encoding/json (which keeps the last and matches
// names case-insensitively, under Unicode folding). The issuer never
// writes such claims; the verifier refuses them as invalid before
// introspection, at every level (act, authorization_details), rather than
// pick one reading. Claims it does not know, spelt once, still pass.
func TestVerifyRefusesAmbiguousClaimNames(t *testing.T) {
	d := startDemoIssuer()
	defer d.Close()
	v := newVerifier(d, "refund")
	args := `{"amount":12}`
	digest, _ := slipverify.ArgsDigest([]byte(args))
	now := time.Now().Unix()
	other := slipverify.ToolAudience(d.URL, "payroll")
	// claims writes a payload by hand (a map cannot hold a name twice),
	// with the members given in place of the aud member, then jti.
	claims := func(jti, aud, act, detail string) string {
		if detail == "" {
			detail = fmt.Sprintf(`"type":%q,"tool":"refund","args_sha256":%q,"redeemer":%q`, slipverify.DetailType, digest, demoClient)
		}
		if act == "" {
			act = `"sub":"acme-assistant","client_id":"acme-assistant"`
		}
		return fmt.Sprintf(`{"iss":%q,"sub":"alice",%s,"act":{%s},"scope":"tool:refund","authorization_details":[{%s}],"jti":%q,"iat":%d,"exp":%d}`,
			d.URL, aud, act, detail, jti, now, now+30)
	}
	aud := fmt.Sprintf(`"aud":%q`, v.Audience)
	for _, tt := range []struct {
		name, payload string
	}{
		{"AUD for aud", claims("j1", fmt.Sprintf(`"AUD":%q`, v.Audience), "", "")},
		{"Aud for aud", claims("j2", fmt.Sprintf(`"Aud":%q`, v.Audience), "", "")},
		{"aud twice, ours last", claims("j3", fmt.Sprintf(`"aud":%q,"aud":%q`, other, v.Audience), "", "")},
		{"aud twice, ours both", claims("j4", aud+","+aud, "", "")},
		{"aud and AUD", claims("j5", fmt.Sprintf(`"aud":%q,"AUD":%q`, other, v.Audience), "", "")},
		{"long s in sub", strings.Replace(claims("j6", aud, "", ""), `"sub":"alice"`, `"\u017fub":"alice"`, 1)},
		{"jti twice", strings.Replace(claims("j7", aud, "", ""), `"jti":"j7"`, `"jti":"j0","jti":"j7"`, 1)},
		{"client_id of act in capitals", claims("j8", aud, `"sub":"acme-assistant","CLIENT_ID":"acme-assistant"`, "")},
		{"act sub twice", claims("j9", aud, `"sub":"mallory","sub":"acme-assistant","client_id":"acme-assistant"`, "")},
		{"detail tool twice", claims("j10", aud, "", fmt.Sprintf(`"type":%q,"tool":"payroll","tool":"refund","args_sha256":%q,"redeemer":%q`, slipverify.DetailType, digest, demoClient))},
		{"detail Args_SHA256", claims("j11", aud, "", fmt.Sprintf(`"type":%q,"tool":"refund","Args_SHA256":%q,"redeemer":%q`, slipverify.DetailType, digest, demoClient))},
		{"unknown claim twice", strings.Replace(claims("j12", aud, "", ""), `"scope"`, `"x":1,"x":2,"scope"`, 1)},
	} {
		tok, err := d.Keys.Sign(keys.EdDSA, slipverify.Type, []byte(tt.payload))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(context.Background(), tok, []byte(args)); !errors.Is(err, slipverify.ErrInvalid) {
			t.Errorf("%s: Verify = %v, want ErrInvalid", tt.name, err)
		}
	}
	// Each name once, exactly as the claim's, with a claim this package
	// does not know: the slip passes.
	ok := strings.Replace(claims("j13", aud, "", ""), `"scope"`, `"cnf":{"x5t#S256":"abc"},"Extra":[{"a":1}],"scope"`, 1)
	tok, err := d.Keys.Sign(keys.EdDSA, slipverify.Type, []byte(ok))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), tok, []byte(args)); err != nil {
		t.Fatalf("well-named claims: Verify = %v", err)
	}
}

// TestCheckNames: CheckNames, for a tool that checks slips with another
// JOSE library, refuses as invalid what Verify refuses for its names: a
// header or claims naming a member twice, two members equal but for
// case, or a slip's member spelt otherwise, at any depth. Names spelt
// once each pass, unknown ones too; no signature is checked.
func TestCheckNames(t *testing.T) {
	enc := base64.RawURLEncoding
	const hdr = `{"alg":"EdDSA","kid":"k1","typ":"gatehouse-slip+jwt"}`
	const claims = `{"iss":"https://id.test","sub":"alice","aud":"https://id.test/tools/refund","act":{"sub":"bot","client_id":"bot"},"scope":"tool:refund","authorization_details":[{"type":"gatehouse_tool_call","tool":"refund","args_sha256":"00"}],"jti":"j1","iat":1,"exp":31}`
	token := func(h, c string) string {
		return enc.EncodeToString([]byte(h)) + "." + enc.EncodeToString([]byte(c)) + "." + enc.EncodeToString(make([]byte, 64))
	}
	for _, tt := range []struct {
		name, header, claims string
		ok                   bool
	}{
		{"as the issuer writes it", hdr, claims, true},
		{"unknown members spelt once", strings.Replace(hdr, `{`, `{"x5u":"u",`, 1), strings.Replace(claims, `{`, `{"cnf":{"jkt":"a"},"Extra":[{"a":1}],`, 1), true},
		{"aud as an array of one", hdr, strings.Replace(claims, `"aud":"https://id.test/tools/refund"`, `"aud":["https://id.test/tools/refund"]`, 1), true},
		{"header typ twice", strings.Replace(hdr, `{`, `{"typ":"at+jwt",`, 1), claims, false},
		{"header KID", strings.Replace(hdr, `"kid"`, `"KID"`, 1), claims, false},
		{"AUD", hdr, strings.Replace(claims, `"aud"`, `"AUD"`, 1), false},
		{"aud twice", hdr, strings.Replace(claims, `{`, `{"aud":"https://id.test/tools/payroll",`, 1), false},
		{"long s in sub", hdr, strings.Replace(claims, `"sub":"alice"`, `"\u017fub":"alice"`, 1), false},
		{"act CLIENT_ID", hdr, strings.Replace(claims, `"client_id"`, `"CLIENT_ID"`, 1), false},
		{"detail tool twice", hdr, strings.Replace(claims, `"tool":"refund"`, `"tool":"payroll","tool":"refund"`, 1), false},
		{"unknown members equal but for case", hdr, strings.Replace(claims, `{`, `{"extra":1,"Extra":2,`, 1), false},
		{"a name twice inside an unknown member", hdr, strings.Replace(claims, `{`, `{"cnf":{"jkt":"a","jkt":"b"},`, 1), false},
	} {
		err := slipverify.CheckNames(token(tt.header, tt.claims))
		if tt.ok && err != nil || !tt.ok && !errors.Is(err, slipverify.ErrInvalid) {
			t.Errorf("%s: CheckNames = %v", tt.name, err)
		}
	}
	if err := slipverify.CheckNames("not.a token"); !errors.Is(err, slipverify.ErrInvalid) {
		t.Errorf("a malformed token: CheckNames = %v", err)
	}
}
