package slipverify

import (
	"encoding/base64"
	"errors"
	"testing"
)

// TestSplitRefusesAmbiguousHeaderNames: a header naming alg, kid, typ or
// crit twice, or in another case, reads otherwise to other JOSE libraries
// than to encoding/json (last of duplicates, case-insensitive match): it
// is malformed. Header parameters this package does not know pass.
func TestSplitRefusesAmbiguousHeaderNames(t *testing.T) {
	enc := base64.RawURLEncoding
	sig := enc.EncodeToString(make([]byte, 64))
	for hdr, bad := range map[string]bool{
		`{"alg":"none","alg":"EdDSA","kid":"k1","typ":"gatehouse-slip+jwt"}`:   true,
		`{"alg":"EdDSA","kid":"k0","kid":"k1","typ":"gatehouse-slip+jwt"}`:     true,
		`{"alg":"EdDSA","KID":"k1","typ":"gatehouse-slip+jwt"}`:                true,
		`{"alg":"EdDSA","kid":"k1","Typ":"gatehouse-slip+jwt"}`:                true,
		`{"ALG":"EdDSA","kid":"k1","typ":"gatehouse-slip+jwt"}`:                true,
		`{"alg":"EdDSA","kid":"k1","typ":"gatehouse-slip+jwt","x5u":"u"}`:      false,
		`{"alg":"EdDSA","kid":"k1","typ":"gatehouse-slip+jwt","x":1,"x":2}`:    true,
		`{"alg":"EdDSA","kid":"k1","typ":"gatehouse-slip+jwt","cty":"JWT"}`:    false,
		`{"alg":"EdDSA","kid":"k1","typ":"gatehouse-slip+jwt","jku":{"a":[]}}`: false,
	} {
		tok := enc.EncodeToString([]byte(hdr)) + "." + enc.EncodeToString([]byte(`{}`)) + "." + sig
		if _, _, _, _, err := split(tok); errors.Is(err, ErrInvalid) != bad {
			t.Errorf("%s: %v", hdr, err)
		}
	}
}
