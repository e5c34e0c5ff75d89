package keys_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/keys"
)

// TestVerifyTakesOneSpellingOfAToken: a compact JWS is base64url without
// line breaks or other whitespace, in its canonical form (RFC 7515 §2,
// RFC 4648 §3.5): a token whose signature is spelled otherwise (the unused
// bits of its last character set, a line break inside) is not the token
// that was signed, and is refused as malformed.
func TestVerifyTakesOneSpellingOfAToken(t *testing.T) {
	now := time.Now()
	m, _ := newManager(t, &now)
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for _, alg := range []string{keys.EdDSA, keys.RS256} {
		tok, err := m.Sign(alg, "at+jwt", []byte(`{"sub":"alice"}`))
		if err != nil {
			t.Fatal(err)
		}
		i := strings.LastIndexByte(tok, '.')
		input, sig := tok[:i+1], tok[i+1:]
		var variants []string
		for _, c := range alphabet {
			if v := input + sig[:len(sig)-1] + string(c); v != tok {
				variants = append(variants, v)
			}
		}
		variants = append(variants, input+sig[:8]+"\n"+sig[8:], input+sig[:8]+"\r\n"+sig[8:], input+sig+"\n",
			tok[:4]+"\n"+tok[4:])
		accepted := 0
		for _, v := range variants {
			if _, err := m.Verify(v, "at+jwt"); err == nil {
				accepted++
			} else if !errors.Is(err, keys.ErrMalformed) && !errors.Is(err, keys.ErrBadSignature) {
				t.Errorf("%s: %q: %v", alg, v[len(input):], err)
			}
		}
		if accepted > 0 {
			t.Errorf("%s: %d other spellings of one token verify", alg, accepted)
		}
		if _, err := m.Verify(tok, "at+jwt"); err != nil {
			t.Errorf("%s: the token itself: %v", alg, err)
		}
	}
}
