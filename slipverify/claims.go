package slipverify

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Type is the JOSE header typ of a permission slip.
const Type = "gatehouse-slip+jwt"

// DetailType is the type of the authorization_details entry (RFC 9396)
// that binds a slip to one tool call.
const DetailType = "gatehouse_tool_call"

// MaxLifetime is the longest a slip lives: exp is at most this long after
// iat.
const MaxLifetime = 60 // seconds

// Claims are the claims of a permission slip.
type Claims struct {
	Issuer   string `json:"iss"`
	Subject  string `json:"sub"` // the person the call is made for
	Audience string `json:"aud"` // the one tool's resource URI
	Actor    *Actor `json:"act,omitempty"`
	Scope    string `json:"scope"` // "tool:<name>"
	// AuthorizationDetails holds exactly one entry, of DetailType.
	AuthorizationDetails []Detail `json:"authorization_details"`
	JTI                  string   `json:"jti"`
	IssuedAt             int64    `json:"iat"`
	Expiry               int64    `json:"exp"`
	// NotBefore, when not zero, is when the slip becomes valid (RFC 7519
	// nbf). Gatehouse writes none; Validate honours one that is present.
	NotBefore int64 `json:"nbf,omitempty"`
	// Transaction is the correlation ID the issuer's audit trail files the
	// call under, for the tool's own logs.
	Transaction string `json:"txn,omitempty"`
}

// Actor is the RFC 8693 act claim: the agent acting for the subject and,
// nested, whoever the agent acted for in turn (outermost first).
type Actor struct {
	Sub      string `json:"sub"`
	ClientID string `json:"client_id,omitempty"`
	Act      *Actor `json:"act,omitempty"`
}

// Chain flattens the act claim into client IDs (or subjects), outermost
// first.
func (a *Actor) Chain() []string {
	var out []string
	for x := a; x != nil; x = x.Act {
		if x.ClientID != "" {
			out = append(out, x.ClientID)
		} else {
			out = append(out, x.Sub)
		}
	}
	return out
}

// Detail is the authorization_details entry of a slip.
type Detail struct {
	Type       string `json:"type"` // DetailType
	Tool       string `json:"tool"`
	ArgsSHA256 string `json:"args_sha256"` // lowercase hex SHA-256 of the canonical JSON arguments
	// Redeemer, when set, is the only client allowed to introspect (and so
	// redeem) the slip.
	Redeemer string `json:"redeemer,omitempty"`
}

// Call returns the slip's one tool-call detail, or false when the slip has
// none or more than one.
func (c *Claims) Call() (Detail, bool) {
	var found Detail
	n := 0
	for _, d := range c.AuthorizationDetails {
		if d.Type == DetailType {
			found = d
			n++
		}
	}
	return found, n == 1
}

// UnmarshalJSON accepts aud as a string or as an array of one string.
func (c *Claims) UnmarshalJSON(b []byte) error {
	type plain Claims
	var aux struct {
		plain
		Audience json.RawMessage `json:"aud"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	*c = Claims(aux.plain)
	if len(aux.Audience) == 0 {
		return nil
	}
	if err := json.Unmarshal(aux.Audience, &c.Audience); err == nil {
		return nil
	}
	var many []string
	if err := json.Unmarshal(aux.Audience, &many); err != nil || len(many) != 1 {
		return errors.New("aud must name exactly one tool")
	}
	c.Audience = many[0]
	return nil
}

// ToolAudience is the resource URI a slip for tool names as its audience:
// <issuer>/tools/<name>.
func ToolAudience(issuer, tool string) string {
	return strings.TrimSuffix(issuer, "/") + "/tools/" + url.PathEscape(tool)
}

// Validate checks the claims of a slip whose signature is already verified:
// issuer, audience, lifetime (exp, iat and nbf when present, each with
// Leeway) and that args, the arguments the tool received, are the ones the
// slip was minted for. It does not redeem the slip: tools that verify
// signatures with a JWT library of their own call Validate and then
// introspect. As for Verify, args are bound by their canonical form: use
// Canonical(args) afterwards, not args as they came. Errors wrap one of
// the package's sentinel errors.
func (c *Claims) Validate(issuer, audience string, args []byte, now time.Time) error {
	if c.Issuer != issuer {
		return fmt.Errorf("%w: wrong issuer", ErrInvalid)
	}
	if c.Subject == "" || c.JTI == "" || c.IssuedAt == 0 || c.Expiry == 0 {
		return fmt.Errorf("%w: missing sub, jti, iat or exp", ErrInvalid)
	}
	if !lifetimeOK(c.IssuedAt, c.Expiry) {
		return fmt.Errorf("%w: lifetime not between 0 and %d s", ErrInvalid, MaxLifetime)
	}
	if c.Audience != audience {
		return ErrAudience
	}
	leeway := int64(Leeway / time.Second)
	t := now.Unix()
	if t >= c.Expiry+leeway {
		return ErrExpired
	}
	if c.IssuedAt > t+leeway {
		return fmt.Errorf("%w: issued in the future", ErrInvalid)
	}
	if c.NotBefore > t+leeway {
		return fmt.Errorf("%w: not valid before its nbf", ErrInvalid)
	}
	d, ok := c.Call()
	if !ok {
		return fmt.Errorf("%w: not exactly one %s authorization detail", ErrInvalid, DetailType)
	}
	if c.Scope != "tool:"+d.Tool {
		return fmt.Errorf("%w: scope does not name the tool", ErrInvalid)
	}
	if digestIs(args, d.ArgsSHA256) {
		// The arguments are the very bytes the digest was made of: the
		// canonical form (Canonical is idempotent), as an executor that
		// canonicalized them passes them on. No second canonicalization
		// can change them.
		return nil
	}
	digest, err := ArgsDigest(args)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrArguments, err)
	}
	if digest != d.ArgsSHA256 {
		return ErrArguments
	}
	return nil
}

// lifetimeOK reports whether exp is at most MaxLifetime after iat and not
// before it. exp-iat alone is not enough: with iat far in the past (or
// negative) and exp far ahead it wraps around to a negative int64, and a
// slip the issuer's key signed with such times would live for ever.
func lifetimeOK(iat, exp int64) bool {
	d := exp - iat
	return exp >= iat && d >= 0 && d <= MaxLifetime
}
