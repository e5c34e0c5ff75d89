package slip_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/slip"
	"github.com/gatehouse/gatehouse/slipverify"
)

// TestIssuerRefusesAmbiguousClaimNames: a slip signed with the tenant's
// keys whose claims name a member twice, or in another case than the
// claim's name ("AUD", two "aud", "ſub"), is refused by slipverify as
// invalid, since other JWT libraries read such claims otherwise than
// encoding/json does. The issuer reads the token as slipverify does:
// its introspection answers inactive (and spends nothing), and its own
// verification, as another replica's executor would run it, is invalid.
// Claims spelt once each, exactly, with unknown ones among them, or aud
// as an array of one, pass on both sides.
func TestIssuerRefusesAmbiguousClaimNames(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, openSQLite(t))
	// Another replica: it knows none of the slips f.m minted.
	other := &slip.Minter{Issuer: f.m.Issuer, Keys: f.m.Keys, Store: f.m.Store, Audit: f.m.Audit, Now: f.m.Now}
	now := f.now.Unix()
	args := []byte(`{"amount":12}`)
	digest := slipverify.Digest(args)
	aud := f.m.Audience("refund")
	other2 := f.m.Audience("payroll_report")
	n := 0
	// claims writes a payload by hand (a map cannot hold a name twice),
	// with audm in place of the aud member, act's members and the
	// detail's.
	claims := func(audm, act, detail string) string {
		n++
		if audm == "" {
			audm = fmt.Sprintf(`"aud":%q`, aud)
		}
		if act == "" {
			act = `"sub":"acme-assistant","client_id":"acme-assistant"`
		}
		if detail == "" {
			detail = fmt.Sprintf(`"type":%q,"tool":"refund","args_sha256":%q,"redeemer":"billing-api"`, slipverify.DetailType, digest)
		}
		return fmt.Sprintf(`{"iss":%q,"sub":"alice",%s,"act":{%s},"scope":"tool:refund","authorization_details":[{%s}],"jti":"j%d","iat":%d,"exp":%d}`,
			issuer, audm, act, detail, n, now, now+30)
	}
	for _, tt := range []struct {
		name    string
		payload string
		valid   bool
	}{
		{"AUD for aud", claims(fmt.Sprintf(`"AUD":%q`, aud), "", ""), false},
		{"Aud for aud", claims(fmt.Sprintf(`"Aud":%q`, aud), "", ""), false},
		{"aud twice, ours last", claims(fmt.Sprintf(`"aud":%q,"aud":%q`, other2, aud), "", ""), false},
		{"aud twice, ours both", claims(fmt.Sprintf(`"aud":%q,"aud":%q`, aud, aud), "", ""), false},
		{"aud and AUD", claims(fmt.Sprintf(`"aud":%q,"AUD":%q`, other2, aud), "", ""), false},
		{"long s in sub", strings.Replace(claims("", "", ""), `"sub":"alice"`, `"\u017fub":"alice"`, 1), false},
		{"jti twice", strings.Replace(claims("", "", ""), `"jti"`, `"jti":"j0","jti"`, 1), false},
		{"client_id of act in capitals", claims("", `"sub":"acme-assistant","CLIENT_ID":"acme-assistant"`, ""), false},
		{"act sub twice", claims("", `"sub":"mallory","sub":"acme-assistant","client_id":"acme-assistant"`, ""), false},
		{"detail tool twice", claims("", "", fmt.Sprintf(`"type":%q,"tool":"payroll_report","tool":"refund","args_sha256":%q,"redeemer":"billing-api"`, slipverify.DetailType, digest)), false},
		{"detail Redeemer", claims("", "", fmt.Sprintf(`"type":%q,"tool":"refund","args_sha256":%q,"Redeemer":"billing-api"`, slipverify.DetailType, digest)), false},
		{"unknown claim twice", strings.Replace(claims("", "", ""), `"scope"`, `"x":1,"x":2,"scope"`, 1), false},
		{"unknown claims equal but for case", strings.Replace(claims("", "", ""), `"scope"`, `"extra":1,"Extra":2,"scope"`, 1), false},
		{"a name twice inside an unknown claim", strings.Replace(claims("", "", ""), `"scope"`, `"cnf":{"jkt":"a","jkt":"b"},"scope"`, 1), false},
		{"unknown claims spelt once", strings.Replace(claims("", "", ""), `"scope"`, `"cnf":{"x5t#S256":"abc"},"Extra":[{"a":1}],"scope"`, 1), true},
		{"aud as an array of one", claims(fmt.Sprintf(`"aud":[%q]`, aud), "", ""), true},
		{"as a Minter writes it", claims("", "", ""), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := f.keys.Sign(slip.Alg, slipverify.Type, []byte(tt.payload))
			if err != nil {
				t.Fatal(err)
			}
			_, verr := other.Verify(tok, "refund", args)
			resp, ok := f.m.Introspect(ctx, tok, "billing-api", true)
			if !ok || resp == nil {
				t.Fatalf("introspection: %v, %v", resp, ok)
			}
			if tt.valid {
				if verr != nil || resp["active"] != true {
					t.Errorf("verify: %v; introspection answered %v", verr, resp)
				}
				return
			}
			if !errors.Is(verr, slipverify.ErrInvalid) {
				t.Errorf("verify: %v, want ErrInvalid", verr)
			}
			if resp["active"] != false {
				t.Errorf("introspection answered %v", resp)
			}
		})
	}
}
