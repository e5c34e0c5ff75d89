package keys

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"testing"
)

// TestCriticalExtensionsRefused: a token whose header names critical
// extensions (crit) is malformed, however well signed: this package
// understands none (RFC 7515 §4.1.11).
func TestCriticalExtensionsRefused(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	enc := base64.RawURLEncoding
	for _, hdr := range []string{
		`{"alg":"EdDSA","kid":"k1","typ":"at+jwt","crit":["exp-must-not-count"],"exp-must-not-count":true}`,
		`{"alg":"EdDSA","kid":"k1","typ":"at+jwt","crit":[]}`,
	} {
		input := enc.EncodeToString([]byte(hdr)) + "." + enc.EncodeToString([]byte(`{"sub":"alice"}`))
		tok := input + "." + enc.EncodeToString(ed25519.Sign(priv, []byte(input)))
		if _, _, _, _, err := splitJWS(tok); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want malformed", hdr, err)
		}
	}
	input := enc.EncodeToString([]byte(`{"alg":"EdDSA","kid":"k1","typ":"at+jwt"}`)) + "." + enc.EncodeToString([]byte(`{}`))
	if _, _, _, _, err := splitJWS(input + "." + enc.EncodeToString(ed25519.Sign(priv, []byte(input)))); err != nil {
		t.Errorf("without crit: %v", err)
	}
}
