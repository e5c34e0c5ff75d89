package keys

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"

	jsonv2 "github.com/go-json-experiment/json"
)

// Algorithms this package signs with.
const (
	RS256 = "RS256" // ID tokens: what OpenID Connect requires every RP to accept
	EdDSA = "EdDSA" // access tokens and permission slips: fast to sign and verify
)

// b64 decodes strictly: the unused bits of a last character must be zero,
// so a token has one spelling only (RFC 7515 §2, RFC 4648 §3.5).
var b64 = base64.RawURLEncoding.Strict()

// compact reports whether token holds only what a compact JWS may: the
// base64url alphabet and dots. The decoder skips CR and LF even when
// strict; a token with a line break in it is another spelling of a token.
func compact(token string) bool {
	for i := 0; i < len(token); i++ {
		c := token[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// Errors of Verify. Messages name no key material.
var (
	ErrMalformed    = errors.New("malformed token")
	ErrUnknownKey   = errors.New("token signed by an unknown key")
	ErrBadSignature = errors.New("token signature is invalid")
	ErrWrongType    = errors.New("token has the wrong type")
)

type header struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Typ string `json:"typ,omitempty"`
	// Crit names extensions a verifier must understand (RFC 7515 §4.1.11);
	// this package understands none, so a token with it is refused.
	Crit json.RawMessage `json:"crit,omitempty"`
}

// publicKey is a verification key with its JWK.
type publicKey struct {
	kid string
	alg string
	key crypto.PublicKey
	jwk map[string]any
}

func (p publicKey) verify(signingInput, sig []byte) bool {
	switch k := p.key.(type) {
	case ed25519.PublicKey:
		return ed25519.Verify(k, signingInput, sig)
	case *rsa.PublicKey:
		h := sha256.Sum256(signingInput)
		return rsa.VerifyPKCS1v15(k, crypto.SHA256, h[:], sig) == nil
	}
	return false
}

func jwkOf(kid, alg string, pub crypto.PublicKey) (map[string]any, error) {
	// The stored label is not under the seal, the key is: a label that
	// does not fit the key (changed in the database) is refused here,
	// rather than published and used under an algorithm it cannot do.
	if want := algOf(pub); want != alg {
		return nil, fmt.Errorf("signing key %s: labelled %s, but its key is for %s", kid, alg, want)
	}
	switch k := pub.(type) {
	case ed25519.PublicKey:
		return map[string]any{"kty": "OKP", "crv": "Ed25519", "x": b64.EncodeToString(k),
			"kid": kid, "alg": alg, "use": "sig"}, nil
	case *rsa.PublicKey:
		return map[string]any{"kty": "RSA", "n": b64.EncodeToString(k.N.Bytes()),
			"e": b64.EncodeToString(big.NewInt(int64(k.E)).Bytes()), "kid": kid, "alg": alg, "use": "sig"}, nil
	}
	return nil, fmt.Errorf("unsupported key type %T", pub)
}

// algOf is the algorithm the key pub signs with here; "" for a type the
// manager does not make.
func algOf(pub crypto.PublicKey) string {
	switch pub.(type) {
	case ed25519.PublicKey:
		return EdDSA
	case *rsa.PublicKey:
		return RS256
	}
	return ""
}

func sign(priv crypto.Signer, alg, kid, typ string, payload []byte) (string, error) {
	h, _ := json.Marshal(header{Alg: alg, Kid: kid, Typ: typ})
	var buf bytes.Buffer
	buf.Grow(len(h)*4/3 + len(payload)*4/3 + 400)
	buf.WriteString(b64.EncodeToString(h))
	buf.WriteByte('.')
	buf.WriteString(b64.EncodeToString(payload))
	input := buf.Bytes()
	var sig []byte
	var err error
	switch k := priv.(type) {
	case ed25519.PrivateKey:
		sig = ed25519.Sign(k, input)
	case *rsa.PrivateKey:
		d := sha256.Sum256(input)
		sig, err = rsa.SignPKCS1v15(nil, k, crypto.SHA256, d[:])
	default:
		err = fmt.Errorf("unsupported key type %T", priv)
	}
	if err != nil {
		return "", err
	}
	buf.WriteByte('.')
	buf.WriteString(b64.EncodeToString(sig))
	return buf.String(), nil
}

// splitJWS parses a compact JWS into its header, payload and signing parts.
func splitJWS(token string) (h header, payload, input, sig []byte, err error) {
	if len(token) > 16<<10 || !compact(token) {
		return h, nil, nil, nil, ErrMalformed
	}
	i := strings.IndexByte(token, '.')
	j := strings.LastIndexByte(token, '.')
	if i < 0 || j == i {
		return h, nil, nil, nil, ErrMalformed
	}
	hb, err1 := b64.DecodeString(token[:i])
	payload, err2 := b64.DecodeString(token[i+1 : j])
	sig, err3 := b64.DecodeString(token[j+1:])
	if err1 != nil || err2 != nil || err3 != nil || strings.IndexByte(token[i+1:j], '.') >= 0 {
		return h, nil, nil, nil, ErrMalformed
	}
	if h, err = decodeHeader(hb); err != nil {
		return h, nil, nil, nil, ErrMalformed
	}
	return h, payload, []byte(token[:j]), sig, nil
}

// errCrit refuses a header with crit.
var errCrit = errors.New("critical header parameters")

// exactHeader is the header this package writes, for decodeHeader's fast
// path.
type exactHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Typ string `json:"typ,omitempty"`
}

// decodeHeader decodes a JWS header and refuses one with crit. A header
// of exactly this package's members (each once, named as the tags name
// them, valid UTF-8) is read by encoding/json/v2 in one pass; any other —
// another member such as crit, a repeated or differently cased one —
// goes to encoding/json, as every header did before, so the outcome is
// the same.
func decodeHeader(b []byte) (header, error) {
	var e exactHeader
	if jsonv2.Unmarshal(b, &e, jsonv2.RejectUnknownMembers(true)) == nil {
		return header{Alg: e.Alg, Kid: e.Kid, Typ: e.Typ}, nil
	}
	var h header
	if err := json.Unmarshal(b, &h); err != nil {
		return header{}, err
	}
	if h.Crit != nil {
		return header{}, errCrit
	}
	return h, nil
}
