package slipverify

import (
	"encoding/base64"
	"errors"
	"testing"
)

// TestSplitRefusesCriticalExtensions: a slip whose header names critical
// extensions (crit) is invalid: this package understands none (RFC 7515
// §4.1.11), so it cannot honour what they would ask.
func TestSplitRefusesCriticalExtensions(t *testing.T) {
	enc := base64.RawURLEncoding
	sig := enc.EncodeToString(make([]byte, 64))
	for hdr, bad := range map[string]bool{
		`{"alg":"EdDSA","kid":"k1","typ":"gatehouse-slip+jwt","crit":["x"],"x":1}`: true,
		`{"alg":"EdDSA","kid":"k1","typ":"gatehouse-slip+jwt","crit":[]}`:          true,
		`{"alg":"EdDSA","kid":"k1","typ":"gatehouse-slip+jwt"}`:                    false,
	} {
		tok := enc.EncodeToString([]byte(hdr)) + "." + enc.EncodeToString([]byte(`{}`)) + "." + sig
		if _, _, _, _, err := split(tok); errors.Is(err, ErrInvalid) != bad {
			t.Errorf("%s: %v", hdr, err)
		}
	}
}
