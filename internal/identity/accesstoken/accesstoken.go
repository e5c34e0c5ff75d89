// Package accesstoken is the shape of Gatehouse's access tokens (RFC 9068
// JWTs, typ at+jwt, signed EdDSA): identity mints them, the MCP gateway
// verifies them. It does no I/O and never logs a token.
package accesstoken

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/slipverify"
)

// Type is the JOSE typ of an access token.
const Type = "at+jwt"

// Alg is the algorithm access tokens are signed with.
const Alg = keys.EdDSA

// Skew is the clock difference tolerated between replicas.
const Skew = 5 * time.Second

// Actor is an RFC 8693 act claim: who acts for the subject, and for whom
// that actor acted in turn (outermost first). A slip's act claim is the
// same claim, carried on from the token, so both are one type, with its
// Chain; slipverify, which tools import, stays free of internal packages.
type Actor = slipverify.Actor

// Audience is the aud claim: one string or several.
type Audience []string

// MarshalJSON writes a single audience as a string, as most RPs expect.
func (a Audience) MarshalJSON() ([]byte, error) {
	if len(a) == 1 {
		return json.Marshal(a[0])
	}
	return json.Marshal([]string(a))
}

// UnmarshalJSON accepts a string or an array of strings.
func (a *Audience) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = Audience{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("aud must be a string or an array of strings")
	}
	*a = many
	return nil
}

// Claims of an access token.
type Claims struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub"`
	Audience  Audience `json:"aud"`
	ClientID  string   `json:"client_id"`
	Scope     string   `json:"scope,omitempty"`
	JTI       string   `json:"jti"`
	IssuedAt  int64    `json:"iat"`
	Expiry    int64    `json:"exp"`
	AuthTime  int64    `json:"auth_time,omitempty"`
	SessionID string   `json:"sid,omitempty"` // the login session, for audit correlation
	Act       *Actor   `json:"act,omitempty"`
	// GrantID names the grant (refresh-token family) the token was issued
	// under; empty for client_credentials tokens, whose subject is the
	// client itself. Revoking the grant revokes the token (see
	// store.Identity.Revoked).
	GrantID string `json:"gid,omitempty"`
	// Parents are the IDs (jti) of the tokens this one was exchanged from
	// (RFC 8693), the first one first: revoking any of them revokes this
	// one too (Revoked).
	Parents []string `json:"pjti,omitempty"`
}

// Revocations says whether a grant or a token ID was revoked (the
// store's Identity().Revoked); empty IDs are not.
type Revocations interface {
	Revoked(ctx context.Context, grantID, jti string) (bool, error)
}

// Revoked reports whether c was revoked: its grant, itself, or a token it
// was exchanged from.
func (c *Claims) Revoked(ctx context.Context, r Revocations) (bool, error) {
	if revoked, err := r.Revoked(ctx, c.GrantID, c.JTI); err != nil || revoked {
		return revoked, err
	}
	for _, jti := range c.Parents {
		if revoked, err := r.Revoked(ctx, "", jti); err != nil || revoked {
			return revoked, err
		}
	}
	return false, nil
}

// Errors of Verify, wrapped with detail that names no secret.
var (
	ErrInvalid  = errors.New("invalid access token")
	ErrExpired  = errors.New("access token expired")
	ErrAudience = errors.New("access token is not for this resource")
)

// Mint signs claims as an access token.
func Mint(k *keys.Manager, c Claims) (string, error) {
	return k.SignJSON(Alg, Type, c)
}

// Verify checks signature, type, issuer, audience and lifetime.
func Verify(k *keys.Manager, token, issuer, audience string, now time.Time) (Claims, error) {
	var c Claims
	payload, err := k.Verify(token, Type)
	if err != nil {
		return c, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return c, fmt.Errorf("%w: claims: %v", ErrInvalid, err)
	}
	if c.Issuer != issuer {
		return c, fmt.Errorf("%w: wrong issuer", ErrInvalid)
	}
	if c.Subject == "" || c.JTI == "" || c.Expiry == 0 {
		return c, fmt.Errorf("%w: missing sub, jti or exp", ErrInvalid)
	}
	if !slices.Contains(c.Audience, audience) {
		return c, ErrAudience
	}
	t := now.Unix()
	if t >= c.Expiry+int64(Skew/time.Second) {
		return c, ErrExpired
	}
	if c.IssuedAt > t+int64(Skew/time.Second) {
		return c, fmt.Errorf("%w: issued in the future", ErrInvalid)
	}
	return c, nil
}

// FromRequest returns the access token of r's Authorization header (RFC
// 6750 section 2.1: "Bearer", any case, then one token without blanks),
// and whether there is one.
func FromRequest(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	return token, ok && strings.EqualFold(scheme, "Bearer") && token != "" && !strings.ContainsAny(token, " \t")
}

// CreationMargin is how much earlier than its client's or person's
// creation a token (or grant, or consent) may be dated and still be
// theirs, rather than an earlier client's or person's of the same name,
// removed and created again: the replicas' clocks differ (a person added
// on one, a token issued on another), and a token's time is in whole
// seconds. A person removed and created again within it is not told
// apart; a client is, by its removal's time (store.Tenant.EndClient), which
// the token checks ask for a token dated no later than its client's
// creation.
const CreationMargin = 30 * time.Second
