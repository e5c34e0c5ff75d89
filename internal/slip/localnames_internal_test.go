package slip

import (
	"encoding/base64"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/slipverify"
)

// TestLocalSlipWithAmbiguousNamesIsInvalid: the executor's own
// redemption of a local slip (MACed with the process's key, redeemed in
// process) reads its claims as slipverify does. A Minter never writes
// claims that name a member twice or in another case; were such a
// payload ever MACed with its key, it is invalid to Verify (and so to
// Redeem), not read leniently. The same payload spelt once passes.
func TestLocalSlipWithAmbiguousNamesIsInvalid(t *testing.T) {
	now := time.Now()
	m := &Minter{Issuer: "http://gatehouse.test", Now: func() time.Time { return now }}
	m.local.init()
	args := []byte(`{}`)
	claims := func(extra string) string {
		return fmt.Sprintf(`{"iss":"http://gatehouse.test","sub":"alice",%s"aud":"http://gatehouse.test/tools/refund","scope":"tool:refund","authorization_details":[{"type":%q,"tool":"refund","args_sha256":%q}],"jti":"j1","iat":%d,"exp":%d}`,
			extra, slipverify.DetailType, slipverify.Digest(args), now.Unix(), now.Unix()+30)
	}
	macd := func(payload string) string {
		enc := base64.RawURLEncoding
		input := m.local.header + "." + enc.EncodeToString([]byte(payload))
		return input + "." + enc.EncodeToString(m.local.mac([]byte(input)))
	}
	for name, extra := range map[string]string{
		"aud twice":   `"aud":"http://gatehouse.test/tools/payroll_report",`,
		"AUD":         `"AUD":"http://gatehouse.test/tools/payroll_report",`,
		"long s":      `"\u017fub":"mallory",`,
		"txn and TXN": `"txn":"a","TXN":"b",`,
	} {
		if _, err := m.Verify(macd(claims(extra)), "refund", args); !errors.Is(err, slipverify.ErrInvalid) {
			t.Errorf("%s: Verify = %v, want ErrInvalid", name, err)
		}
	}
	if _, err := m.Verify(macd(claims(`"txn":"a","cnf":{"jkt":"x"},`)), "refund", args); err != nil {
		t.Errorf("names spelt once: Verify = %v", err)
	}
}
