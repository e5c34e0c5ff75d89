package slip

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"sync"

	"github.com/gatehouse/gatehouse/slipverify"
)

// localAlg and localKid name how slips that never leave this process are
// protected: HMAC-SHA-256 under a key that lives only in this Minter's
// memory.
//
// A slip for a backend that knows no slips (a built-in tool, an upstream
// MCP server) is redeemed by the executor that minted it, in the same
// process, and is never sent anywhere. An Ed25519 signature on it would be
// checked by no one: it proves a slip to a party that did not make it. The
// MAC keeps such a slip a compact JWS whose claims cannot be altered
// without the process's key, at about a microsecond instead of the
// signature's 20-40 µs on every allowed call. What a slip authorizes and
// how it is used are unchanged: the same claims, audited the same way, its
// single use decided by the store. Such a slip is worth nothing elsewhere:
// no JWKS publishes its key, so another replica, a tool or an introspection
// there finds it invalid. A slip for an HTTP API tool, which goes out as
// the bearer token, is signed with the tenant's Ed25519 key as ever.
const (
	localAlg = "HS256"
	localKid = "gatehouse-process-local"
)

// localKey is the MAC key of one Minter, made on first use.
type localKey struct {
	once   sync.Once
	key    []byte
	header string // the encoded JOSE header of every local slip
}

func (l *localKey) init() {
	l.once.Do(func() {
		l.key = make([]byte, 32)
		rand.Read(l.key)
		h, _ := json.Marshal(struct {
			Alg string `json:"alg"`
			Kid string `json:"kid"`
			Typ string `json:"typ"`
		}{localAlg, localKid, slipverify.Type})
		l.header = base64.RawURLEncoding.EncodeToString(h)
	})
}

func (l *localKey) mac(input []byte) []byte {
	m := hmac.New(sha256.New, l.key)
	m.Write(input)
	return m.Sum(nil)
}

// sign returns claims as a compact JWS MACed with the local key.
func (l *localKey) sign(claims *slipverify.Claims) (string, error) {
	l.init()
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	// Encoded in place, into one buffer of the token's exact size: every
	// allowed call mints one.
	enc := base64.RawURLEncoding
	signed := len(l.header) + 1 + enc.EncodedLen(len(payload))
	b := make([]byte, signed+1+enc.EncodedLen(sha256.Size))
	n := copy(b, l.header)
	b[n] = '.'
	enc.Encode(b[n+1:signed], payload)
	sig := l.mac(b[:signed])
	b[signed] = '.'
	enc.Encode(b[signed+1:], sig)
	return string(b), nil
}

// verify reports whether token carries this process's local header, and
// if so returns its payload when the MAC holds. A token with another
// header is not local (ok false) and is left to the tenant's keys.
func (l *localKey) verify(token string) (payload []byte, local bool, valid bool) {
	l.init()
	h, rest, found := strings.Cut(token, ".")
	if !found || h != l.header {
		return nil, false, false
	}
	p, s, found := strings.Cut(rest, ".")
	if !found || strings.ContainsAny(rest, "\r\n") {
		return nil, true, false
	}
	// Strict: one spelling of a slip only (the decoder skips line breaks
	// even so, hence the check above).
	enc := base64.RawURLEncoding.Strict()
	sig, err := enc.DecodeString(s)
	if err != nil || !hmac.Equal(sig, l.mac([]byte(token[:len(h)+1+len(p)]))) {
		return nil, true, false
	}
	payload, err = enc.DecodeString(p)
	if err != nil {
		return nil, true, false
	}
	return payload, true, true
}
