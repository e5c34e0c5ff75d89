package keys

import (
	"bytes"
	"sync"
)

// Design note: the verified-token cache.
//
// A resource presents the same access token on every request of a session
// (the gateway, introspection, the admin API), and an Ed25519 verification
// costs ~50 µs on a small server core: half of an introspection. Whether
// a signature over exact bytes is valid never changes, so Verify remembers
// the tokens it accepted, by their exact text. A remembered token still
// passes every check that can change: its key must still be published
// (not expired by the manager's clock, see current), with the same
// algorithm, and typ is checked as usual. What the payload
// says (expiry, revocation) is for the callers, who check it every time.

// verifiedMax bounds the cache; it is emptied when full. Tokens longer
// than verifiedMaxLen are not remembered, so it holds at most a few MB.
const (
	verifiedMax    = 4096
	verifiedMaxLen = 2048
)

type verifiedToken struct {
	kid, alg, typ string
	payload       []byte
}

type verifiedCache struct {
	mu sync.RWMutex
	m  map[string]verifiedToken
}

func (c *verifiedCache) get(token string) (verifiedToken, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	v, ok := c.m[token]
	return v, ok
}

func (c *verifiedCache) put(token string, v verifiedToken) {
	if len(token) > verifiedMaxLen {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= verifiedMax {
		c.m = make(map[string]verifiedToken, 64)
	}
	c.m[token] = v
}

// verifiedAgain returns the payload of a token Verify accepted before,
// when it still would.
func (m *Manager) verifiedAgain(token, typ string) ([]byte, bool) {
	v, ok := m.verified.get(token)
	if !ok {
		return nil, false
	}
	k, ok := m.current().public[v.kid]
	if !ok || k.alg != v.alg || (typ != "" && !sameTyp(v.typ, typ)) {
		return nil, false // the full check gives the precise error
	}
	return bytes.Clone(v.payload), true
}
