package identity

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/gatehouse/gatehouse/internal/identity/accesstoken"
	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/store"
)

// idTokenType is the JOSE typ of ID tokens; access tokens are at+jwt, so
// one can never pass for the other.
const idTokenType = "JWT"

// grant is what a token is issued for.
type grant struct {
	client    store.Client
	user      *store.User // nil when the client acts for itself (client_credentials)
	sessionID string
	authTime  time.Time
	method    string // amr of the login
	scopes    []string
	aud       []string
	grantID   string
	act       *accesstoken.Actor
	notAfter  time.Time // zero: no cap beyond the access-token lifetime
	parents   []string  // the tokens an exchanged one comes from (Claims.Parents)
}

// tokenResponse is RFC 6749 §5.1 (+ OIDC's id_token, RFC 8693's
// issued_token_type). Scope is always there, empty when the token holds
// none: §5.1 wants the granted scope whenever it differs from the one
// asked for, and a request whose scopes were all unknown here (which is
// not refused: clients ask for scopes of their own, such as "claudeai")
// would otherwise look granted as asked.
type tokenResponse struct {
	AccessToken     string `json:"access_token"`
	IssuedTokenType string `json:"issued_token_type,omitempty"`
	TokenType       string `json:"token_type"`
	ExpiresIn       int64  `json:"expires_in"`
	Scope           string `json:"scope"`
	RefreshToken    string `json:"refresh_token,omitempty"`
	IDToken         string `json:"id_token,omitempty"`

	claims accesstoken.Claims // for the audit event
}

// mintAccess signs an access token through accesstoken.Mint.
func (p *Provider) mintAccess(g grant) (*tokenResponse, error) {
	now := p.now()
	exp := now.Add(p.accessTTL())
	if !g.notAfter.IsZero() && g.notAfter.Before(exp) {
		exp = g.notAfter
	}
	c := accesstoken.Claims{
		Issuer: p.Issuer, Audience: accesstoken.Audience(g.aud), ClientID: g.client.ClientID,
		Scope: joinScope(p.scopesFor(g.scopes, g.aud)), JTI: randomID(), IssuedAt: now.Unix(), Expiry: exp.Unix(),
		SessionID: g.sessionID, Act: g.act, GrantID: g.grantID, Parents: g.parents,
	}
	if g.user != nil {
		c.Subject = g.user.Username
		c.AuthTime = g.authTime.Unix()
	} else {
		// RFC 9068 §2.2: with no resource owner, sub names the client.
		c.Subject = g.client.ClientID
	}
	tok, err := accesstoken.Mint(p.Keys, c)
	if err != nil {
		return nil, fmt.Errorf("mint access token: %w", err)
	}
	return &tokenResponse{AccessToken: tok, TokenType: "Bearer", ExpiresIn: c.Expiry - now.Unix(),
		Scope: c.Scope, claims: c}, nil
}

// idTokenAlg is the algorithm the client's ID tokens are signed with: the
// one it registered, or RS256, which OpenID Connect requires every relying
// party to accept (Core §15.1).
func idTokenAlg(c store.Client) string {
	if c.IDTokenSignedResponseAlg != "" {
		return c.IDTokenSignedResponseAlg
	}
	return keys.RS256
}

// idTokenAlgs are the algorithms an ID token may be signed with: every one
// the key manager keeps an active key for (keys.Algs), RS256 first. atHash
// knows the hash of each.
var idTokenAlgs = keys.Algs

// mintIDToken signs an ID token (OpenID Connect Core §2) for the grant's
// user with the client's algorithm, bound to the access token by at_hash.
func (p *Provider) mintIDToken(g grant, nonce, accessToken string) (string, error) {
	now := p.now()
	alg := idTokenAlg(g.client)
	h, err := atHash(accessToken, alg)
	if err != nil {
		return "", err
	}
	c := idTokenClaims{
		Issuer: p.Issuer, Subject: g.user.Username, Audience: audience{g.client.ClientID},
		Expiry: now.Add(p.accessTTL()).Unix(), IssuedAt: now.Unix(), AuthTime: g.authTime.Unix(),
		Nonce: nonce, SessionID: g.sessionID, AtHash: h,
	}
	if g.method != "" {
		c.AMR = []string{g.method}
	}
	if slices.Contains(g.scopes, "profile") {
		c.PreferredUsername = g.user.Username
	}
	if slices.Contains(g.scopes, "email") {
		c.Email = g.user.Email
	}
	return p.Keys.SignJSON(alg, idTokenType, c)
}

// atHash is the left half of the hash of the access token, base64url
// (OpenID Connect Core §3.1.3.6), with the hash of the ID token's alg:
// SHA-256 for RS256, SHA-512 for EdDSA over Ed25519 (the hash Ed25519
// itself uses, as relying-party libraries such as oauth4webapi compute it).
func atHash(tok, alg string) (string, error) {
	switch alg {
	case keys.RS256:
		s := sha256.Sum256([]byte(tok))
		return base64.RawURLEncoding.EncodeToString(s[:16]), nil
	case keys.EdDSA:
		s := sha512.Sum512([]byte(tok))
		return base64.RawURLEncoding.EncodeToString(s[:32]), nil
	}
	return "", fmt.Errorf("no at_hash for the algorithm %s", alg)
}

// newRefresh stores a refresh token of the grant and returns it.
func (p *Provider) newRefresh(ctx context.Context, rt store.RefreshToken) (string, error) {
	tok := randomToken(prefixRefresh)
	rt.Hash = digest(tok)
	if err := p.Store.Identity().CreateRefreshToken(ctx, rt); err != nil {
		return "", err
	}
	return tok, nil
}

// parseAccessToken verifies an access token of this issuer for any
// audience (userinfo, introspection, revocation and token exchange serve
// every resource), and that neither it nor its grant was revoked.
func (p *Provider) parseAccessToken(ctx context.Context, tok string) (accesstoken.Claims, error) {
	var c accesstoken.Claims
	payload, err := p.Keys.Verify(tok, accesstoken.Type)
	if err != nil {
		return c, fmt.Errorf("%w: %w", accesstoken.ErrInvalid, err)
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return c, fmt.Errorf("%w: claims", accesstoken.ErrInvalid)
	}
	if c.Issuer != p.Issuer || c.Subject == "" || c.JTI == "" || c.Expiry == 0 {
		return c, fmt.Errorf("%w: wrong issuer or missing claims", accesstoken.ErrInvalid)
	}
	skew := int64(accesstoken.Skew / time.Second)
	now := p.now().Unix()
	if now >= c.Expiry+skew {
		return c, accesstoken.ErrExpired
	}
	if c.IssuedAt > now+skew {
		return c, fmt.Errorf("%w: issued in the future", accesstoken.ErrInvalid)
	}
	return c, p.Standing(ctx, c)
}

// Standing reports whether the claims of a verified access token still
// stand: the token is not revoked, and neither its client, nor any client
// of its delegation chain, nor its person (a token with a grant is a
// person's) was removed, disabled or created after it. Its errors wrap
// accesstoken.ErrInvalid and say which, but a store failure's.
func (p *Provider) Standing(ctx context.Context, c accesstoken.Claims) error {
	revoked, err := c.Revoked(ctx, p.Store.Identity())
	if err != nil {
		return err
	}
	if revoked {
		return fmt.Errorf("%w: revoked", accesstoken.ErrInvalid)
	}
	// A token outlives neither its client nor its person: a disabled or
	// removed one's tokens are refused with it, and so are those issued
	// before the client or person of that name was created, which were an
	// earlier one's (removed, then created again under the same name).
	if err := p.clientStands(ctx, c.ClientID, c.IssuedAt, "the client"); err != nil {
		return err
	}
	// So does every earlier client of its delegation chain (RFC 8693
	// act): one removed would no longer narrow what the token may do.
	if c.Act != nil {
		for _, id := range c.Act.Chain() {
			if id == c.ClientID {
				continue
			}
			if err := p.clientStands(ctx, id, c.IssuedAt, "a client of the delegation chain"); err != nil {
				return err
			}
		}
	}
	if c.GrantID != "" { // a person's token
		u, err := p.Store.Users().Get(ctx, c.Subject)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return fmt.Errorf("%w: the person no longer exists", accesstoken.ErrInvalid)
		case err != nil:
			return err
		case u.Disabled:
			return fmt.Errorf("%w: the person is disabled", accesstoken.ErrInvalid)
		case c.IssuedAt < u.CreatedAt.Add(-accesstoken.CreationMargin).Unix():
			return fmt.Errorf("%w: issued to an earlier person of this name", accesstoken.ErrInvalid)
		}
	}
	return nil
}

// clientStands reports, as an error wrapping accesstoken.ErrInvalid that
// names the client as who, a client removed, disabled or created after
// issuedAt; a store failure as it is.
func (p *Provider) clientStands(ctx context.Context, id string, issuedAt int64, who string) error {
	// A metadata client too: its record is stored before anything is
	// issued to it (client), so none means it was removed since.
	cl, err := p.storedClient(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("%w: %s no longer exists", accesstoken.ErrInvalid, who)
	case err != nil:
		return err
	case err == nil && cl.Disabled:
		return fmt.Errorf("%w: %s is disabled", accesstoken.ErrInvalid, who)
	case err == nil && !since(cl, time.Unix(issuedAt, 0)):
		return fmt.Errorf("%w: %s was created after the token: it was issued to an earlier one of that ID", accesstoken.ErrInvalid, who)
	}
	// One dated no later than the client's creation, which since lets
	// through (accesstoken.CreationMargin), may still be an earlier
	// client's of the ID, removed and added again within the margin: it is
	// when it was issued at or before that removal (store.Tenant.EndClient).
	// Only such tokens, met in the client's first moments, ask the store.
	if issuedAt <= cl.CreatedAt.Unix() {
		ended, err := p.Store.Identity().ClientEndedAt(ctx, id)
		if err != nil {
			return err
		}
		if !ended.IsZero() && issuedAt <= ended.Unix() {
			return fmt.Errorf("%w: %s was removed after the token: it was issued to an earlier one of that ID", accesstoken.ErrInvalid, who)
		}
	}
	return nil
}
