package store

import (
	"context"
	"time"
)

// LoginSession is a person's signed-in session at the identity provider.
// The browser holds a random secret; the store keeps only its SHA-256.
type LoginSession struct {
	ID         string    `json:"id"`          // public session ID: the sid claim, audit correlation
	SecretHash string    `json:"secret_hash"` // hex SHA-256 of the cookie value
	Username   string    `json:"username"`
	AuthTime   time.Time `json:"auth_time"`
	CSRF       string    `json:"csrf"`          // per-session token for the forms a signed-in person posts
	Method     string    `json:"amr,omitempty"` // "pwd", or "fed" for an upstream connection
	ExpiresAt  time.Time `json:"expires_at"`
	// CreatedAt is when the session was stored, which a federated
	// sign-in's AuthTime (the upstream's) is not: a session older than its
	// user is an earlier user's of the same name. Zero in sessions stored
	// before it was kept.
	CreatedAt time.Time `json:"created_at,omitzero"`
	// LastSeenAt is the session's last recorded use (its creation, then
	// what TouchSession records): the idle timeout runs from it. It is a
	// column of its own, not part of the stored document, so that a use is
	// recorded with a small write. Zero in sessions stored before it was
	// kept, until their first use is recorded.
	LastSeenAt time.Time `json:"-"`
}

// AuthCode is an issued authorization code, keyed by the SHA-256 of the code.
type AuthCode struct {
	Hash          string    `json:"hash"`
	ClientID      string    `json:"client_id"`
	RedirectURI   string    `json:"redirect_uri"` // as sent in the request ("" when it was omitted)
	Username      string    `json:"username"`
	SessionID     string    `json:"sid"`
	AuthTime      time.Time `json:"auth_time"`
	Method        string    `json:"amr,omitempty"` // how the person signed in
	Scope         string    `json:"scope,omitempty"`
	Resources     []string  `json:"resources,omitempty"`
	Nonce         string    `json:"nonce,omitempty"`
	CodeChallenge string    `json:"code_challenge"`
	GrantID       string    `json:"grant_id"` // what the redemption issues belongs to this grant
	ExpiresAt     time.Time `json:"expires_at"`
	// SessionExpiresAt is when the session the code came from ends at the
	// latest: a grant without offline_access ends with it. Zero in codes
	// stored before it was kept.
	SessionExpiresAt time.Time `json:"session_expires_at,omitzero"`
}

// AuthCodeKept is how long an expired authorization code stays stored
// (PurgeIdentity removes it later): a redemption that read it just before it
// expired still finds it when it asks AuthCodeStands, and EndUser still finds
// its grant while an access token issued on its redemption lives (10 minutes
// by default), to revoke it when no refresh token names that grant. The
// identity provider keeps a redeemed code's used marker as long, so that a
// replay of a code still stored is always recognised as one.
const AuthCodeKept = 30 * time.Minute

// SessionKept is how long an expired login session stays stored
// (PurgeIdentity removes it later): the request that next finds it, an
// app's refresh or the browser's, ends it (EndExpiredSession) and records
// the end. An app at work refreshes within an access token's lifetime
// (10 minutes by default) of the end; one that comes back after
// SessionKept finds the record gone, and that end is not recorded, as is
// the end of a session nothing uses again. Decision: an hour, not the
// refresh tokens' days, so that the sessions table holds little more
// than the live ones.
const SessionKept = time.Hour

// RefreshToken is one refresh token of a grant (a rotation family), keyed by
// the SHA-256 of the token. Used tokens stay until they expire so that their
// reuse is recognised.
type RefreshToken struct {
	Hash           string    `json:"hash"`
	GrantID        string    `json:"grant_id"`
	ClientID       string    `json:"client_id"`
	Username       string    `json:"username"`
	SessionID      string    `json:"sid,omitempty"`
	AuthTime       time.Time `json:"auth_time"`
	Method         string    `json:"amr,omitempty"`
	Scope          string    `json:"scope,omitempty"`
	Resources      []string  `json:"resources,omitempty"`
	IssuedAt       time.Time `json:"issued_at"`
	ExpiresAt      time.Time `json:"expires_at"`
	GrantExpiresAt time.Time `json:"grant_expires_at"` // no rotation outlives it
	// SessionExpiresAt is its code's: when the session the grant came
	// from ends at the latest. Zero in tokens stored before it was kept.
	SessionExpiresAt time.Time `json:"session_expires_at,omitzero"`
}

// Consent is what a person allowed a client that is not first-party.
type Consent struct {
	Username string   `json:"username"`
	ClientID string   `json:"client_id"`
	Scopes   []string `json:"scopes"` // sorted, unique
	// Resources are the resource URIs (token audiences) allowed, sorted
	// and unique; empty in consents recorded before they were kept, which
	// the identity provider reads as its MCP endpoint only.
	Resources []string `json:"resources,omitempty"`
	// SendsTo, for a client that chose its own redirect URIs (registered
	// itself, or known by its metadata document), are the destinations
	// the consent page named as where the browser goes ("https://host",
	// "http://127.0.0.1" for a loopback redirect on any port, "scheme:"
	// for a private-use scheme), sorted and unique. The consent covers
	// those only; empty for a tenant's client, and in consents recorded
	// before they were kept (which cover no such destination).
	SendsTo   []string  `json:"sends_to,omitempty"`
	GrantedAt time.Time `json:"granted_at"`
}

// FederationState is a sign-in in progress at an upstream OpenID provider,
// keyed by the SHA-256 of its state parameter.
type FederationState struct {
	Hash         string    `json:"hash"`
	Connection   string    `json:"connection"`
	Nonce        string    `json:"nonce"`
	CodeVerifier string    `json:"code_verifier"`   // PKCE toward the upstream; dies with the state
	Authz        string    `json:"authz,omitempty"` // the authorization request to resume
	Next         string    `json:"next,omitempty"`
	ExpiresAt    time.Time `json:"expires_at"`
}

// Revocation kinds.
const (
	RevokedGrant = "grant" // a whole family: every refresh and access token of one grant
	RevokedToken = "jti"   // one access token
)

// Identity keeps the identity provider's own records. Every method takes ctx
// and honours it; implementations are safe for concurrent use. Getters return
// records whether or not they have expired: the caller judges expiry with its
// own clock, and PurgeIdentity removes them later.
type Identity interface {
	// CreateSession stores a new session; ErrConflict when its ID or secret
	// hash is taken.
	CreateSession(ctx context.Context, s LoginSession) error
	// SessionBySecret returns the session whose secret hashes to
	// secretHash, or ErrNotFound.
	SessionBySecret(ctx context.Context, secretHash string) (LoginSession, error)
	// SessionByID returns the session with the public ID, or ErrNotFound.
	SessionByID(ctx context.Context, id string) (LoginSession, error)
	// DeleteSession removes the session with the public ID; no error when
	// there is none.
	DeleteSession(ctx context.Context, id string) error
	// TouchSession records that the session with the public ID was used
	// at seen, unless a later use is recorded already (a replica whose
	// clock lags does not move it back). No error when there is no such
	// session.
	TouchSession(ctx context.Context, id string, seen time.Time) error
	// EndIdleSession removes the session with the public ID when its last
	// recorded use is at or before idleSince (never one without a recorded
	// use), and in the same transaction marks (markerKind, id) used until
	// markerExpires, as Consume does, so that what ends with the session
	// (its grants) ends with it. It reports whether it removed the
	// session: false when it is gone, or used since (TouchSession, on any
	// replica), in which case nothing is marked.
	EndIdleSession(ctx context.Context, id string, idleSince time.Time, markerKind string, markerExpires time.Time) (bool, error)
	// EndExpiredSession removes the session with the public ID when it
	// expired at or before now, and reports whether it removed it: false
	// when it is gone (ended otherwise, or removed by PurgeIdentity
	// SessionKept after its expiry) or has not expired, so that of the
	// requests that find it expired, on any replica, one is told.
	EndExpiredSession(ctx context.Context, id string, now time.Time) (bool, error)

	// CreateAuthCode stores an issued code; ErrConflict when the hash is taken.
	CreateAuthCode(ctx context.Context, c AuthCode) error
	// AuthCode returns the code with the hash, or ErrNotFound. It does
	// not mark the code used: single use is the Consumer's decision.
	AuthCode(ctx context.Context, hash string) (AuthCode, error)
	// AuthCodeStands reports whether the code with the hash is still
	// stored, waiting for a transaction that is deleting it (EndUser) to
	// end: a redemption that read the code before such a transaction asks
	// it once its refresh token is stored, and revokes its grant when the
	// code is gone (see identity's grantCode).
	AuthCodeStands(ctx context.Context, hash string) (bool, error)
	// UserNow returns the tenant's user of the name, or ErrNotFound,
	// waiting for a transaction that is changing or removing it (under
	// its row's lock, on engines that lock rows) to end: what is stored on
	// the strength of a user read before (a session, a code) asks it once
	// stored, as AuthCodeStands is asked. It waits for nothing else: not
	// for the tenant's lock, which a transaction changing other records
	// holds (an apply, for as long as it checks its file's passwords).
	UserNow(ctx context.Context, username string) (User, error)

	// CreateRefreshToken stores an issued refresh token, kept until its
	// grant ends (GrantExpiresAt), also past its own expiry.
	CreateRefreshToken(ctx context.Context, t RefreshToken) error
	// RefreshToken returns the token with the hash, or ErrNotFound.
	RefreshToken(ctx context.Context, hash string) (RefreshToken, error)

	// Revoke records that (kind, id) is revoked until expires (no earlier
	// than the longest-lived token it covers). Revoking twice is no error.
	Revoke(ctx context.Context, kind, id string, expires time.Time) error
	// Revoked reports whether any of the (kind, id) pairs is revoked.
	// Empty IDs are ignored.
	Revoked(ctx context.Context, grantID, jti string) (bool, error)
	// ClientEndedAt returns when the client of the ID was last removed
	// (Tenant.EndClient), while that is kept; zero when it was not. A
	// token issued at or before it was the removed client's, also when a
	// client of the ID was added again within accesstoken.CreationMargin.
	ClientEndedAt(ctx context.Context, clientID string) (time.Time, error)
	// Consumed reports whether Consume already marked (kind, id), without
	// marking it.
	Consumed(ctx context.Context, kind, id string) (bool, error)
	// Unconsume forgets the marker (kind, id): for a use that Consume let
	// through and that then issued nothing (its tokens could not be
	// stored or recorded), so that the client's retry is a first use, not
	// a replay. No error when there is none.
	Unconsume(ctx context.Context, kind, id string) error

	// Consent returns the consent of username to clientID, or ErrNotFound.
	Consent(ctx context.Context, username, clientID string) (Consent, error)
	// SetConsent stores (replaces) a consent.
	SetConsent(ctx context.Context, c Consent) error
	// DeleteConsent removes a consent; no error when there is none.
	DeleteConsent(ctx context.Context, username, clientID string) error

	// CountAttempt adds one to the counter key in the fixed window that
	// contains now (windows of length window, starting when the counter
	// starts) and returns the count in that window, atomically across
	// replicas.
	CountAttempt(ctx context.Context, key string, now time.Time, window time.Duration) (int, error)
	// Attempts returns the count of the counter key in the window that
	// contains now, without counting: zero when the key has no counter or
	// its window has ended.
	Attempts(ctx context.Context, key string, now time.Time) (int, error)
	// ForgiveAttempt takes one from the counter key (not below zero).
	ForgiveAttempt(ctx context.Context, key string) error
	// ResetAttempts clears the counter key.
	ResetAttempts(ctx context.Context, key string) error

	// CreateFederationState stores a sign-in in progress.
	CreateFederationState(ctx context.Context, f FederationState) error
	// FederationState returns the state with the hash, or ErrNotFound. It
	// does not mark it used: single use is the Consumer's decision.
	FederationState(ctx context.Context, hash string) (FederationState, error)

	// PurgeIdentity forgets sessions (SessionKept after they expire),
	// codes (AuthCodeKept after they expire), refresh tokens, revocations, client removals, federation
	// states and counters that expired before now, and returns how many it
	// removed.
	PurgeIdentity(ctx context.Context, now time.Time) (int64, error)
}
