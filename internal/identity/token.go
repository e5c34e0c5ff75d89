package identity

// The token endpoint (RFC 6749 §3.2). Every answer — tokens or an error —
// is JSON with Cache-Control: no-store. Single use of codes and refresh
// tokens is the store's Consume, so it holds across replicas; a second use
// of either revokes the whole grant (every token the first use led to).

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/identity/accesstoken"
	"github.com/gatehouse/gatehouse/internal/store"
)

// Single-use kinds in the store's consumed markers.
const (
	consumeCode    = "code"
	consumeRefresh = "refresh"
	// consumeSessionEnd marks a login session that ended (logout, another
	// sign-in in its browser): the grants it gave without offline_access
	// end with it.
	consumeSessionEnd = "session_end"
)

// markerKept is how long a single-use marker outlives what it marks (a
// refresh token's grant, a login session, a federated sign-in's state).
// The purge removes markers and records by the clock of whichever replica
// runs it, markers first; a replica whose clock lags, still taking the
// record for unexpired, must still find the marker: without it, a used
// refresh token or state would pass for an unused one.
const markerKept = 10 * time.Minute

func (p *Provider) handleToken(w http.ResponseWriter, r *http.Request) {
	form, e := parseForm(w, r)
	if e != nil {
		p.writeError(w, r, e)
		return
	}
	ctx := r.Context()
	client, _, e := p.authClient(ctx, r, form)
	if e == nil {
		e = grantRefused(client, form.Get("grant_type"))
		// A client asking to act for a person leaves a trace however
		// early it is refused (grantTokenExchange's records).
		if e != nil && form.Get("grant_type") == grantTokenExchange {
			if t := p.exchangeRefused(ctx, r, client, accesstoken.Claims{}, e); t != nil {
				e = t
			}
		}
	}
	if e != nil {
		p.writeError(w, r, e)
		return
	}
	var resp *tokenResponse
	var err error
	switch gt := form.Get("grant_type"); gt {
	case grantCode:
		resp, err = p.grantCode(ctx, r, client, form)
	case grantRefresh:
		resp, err = p.grantRefresh(ctx, r, client, form)
	case grantClientCredentials:
		resp, err = p.grantClientCredentials(ctx, r, client, form)
	case grantTokenExchange:
		resp, err = p.grantTokenExchange(ctx, r, client, form)
	case "":
		err = errInvalidRequest("grant_type is required")
	default:
		err = errUnsupportedGrant("grant_type '%s' is not supported", gt)
	}
	if err != nil {
		p.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

type form = map[string][]string

func get(f form, k string) string {
	if v := f[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// tokenEvent is the audit event of an issued token: IDs, never the token.
// Detail names what was issued under "issued", as token types: a key such
// as refresh_token would be taken by the audit trail for a secret and
// redacted, whatever its value.
func (p *Provider) tokenEvent(r *http.Request, typ, grantType string, resp *tokenResponse) audit.Event {
	c := resp.claims
	issued := []string{"access_token"}
	if resp.RefreshToken != "" {
		issued = append(issued, "refresh_token")
	}
	if resp.IDToken != "" {
		issued = append(issued, "id_token")
	}
	e := audit.Event{Type: typ, Session: c.SessionID, TokenID: c.JTI, Agent: c.ClientID, Status: "ok",
		RemoteAddr: addrString(p.clientIP(r)),
		Detail: map[string]any{"grant_type": grantType, "scope": c.Scope, "aud": []string(c.Audience),
			"exp": c.Expiry, "issued": issued}}
	if c.GrantID != "" {
		e.Actor = c.Subject
		e.Detail["grant_id"] = c.GrantID
	}
	if c.Act != nil {
		e.Chain = c.Act.Chain()
	}
	return e
}

func (p *Provider) grantCode(ctx context.Context, r *http.Request, client store.Client, f form) (*tokenResponse, error) {
	code, verifier := get(f, "code"), get(f, "code_verifier")
	if code == "" {
		return nil, errInvalidRequest("code is required")
	}
	id := p.Store.Identity()
	h := digest(code)
	ac, err := id.AuthCode(ctx, h)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errInvalidGrant("the code is invalid or expired")
	}
	if err != nil {
		return nil, errServer(err)
	}
	if ac.ClientID != client.ClientID {
		if t := p.wrongClient(ctx, r, grantCode, client.ClientID, ac.Username, ac.ClientID, ac.SessionID); t != nil {
			return nil, t
		}
		return nil, errInvalidGrant("the code was issued to another client")
	}
	// A code already used is a replay whatever it carries and however
	// late it comes: what the first use issued is revoked. So this comes
	// before the expiry check (a replay after 60 s is still a replay).
	if used, err := id.Consumed(ctx, consumeCode, h); err != nil {
		return nil, errServer(err)
	} else if used {
		return nil, p.replayed(ctx, r, grantCode, ac.GrantID, ac.Username, ac.ClientID, ac.SessionID)
	}
	if !p.now().Before(ac.ExpiresAt) {
		return nil, errInvalidGrant("the code is invalid or expired")
	}
	// A presentation that fails these checks does not burn the code (a
	// thief without the verifier cannot spoil it).
	var bad *Error
	switch ru := get(f, "redirect_uri"); {
	case verifier == "":
		bad = errInvalidGrant("code_verifier is required")
	case len(verifier) < 43 || len(verifier) > 128 || !validVerifierChars(verifier):
		bad = errInvalidGrant("code_verifier is malformed")
	case s256(verifier) != ac.CodeChallenge:
		bad = errInvalidGrant("code_verifier does not match the code_challenge")
	case ru != "" && ru != ac.RedirectURI:
		bad = errInvalidGrant("redirect_uri differs from the authorization request's")
	}
	if bad != nil {
		return nil, bad
	}
	authorized := ac.Resources
	if len(authorized) == 0 {
		authorized = []string{p.MCPResource}
	}
	aud, e := p.narrowResources(f["resource"], authorized)
	if e != nil {
		return nil, e // nor does asking for a resource outside the grant
	}
	// The marker lives as long as the code's row (store.AuthCodeKept past
	// its expiry): a marker purged before the row would let a replay pass
	// for an expired code, not revoking the grant, and a replica whose
	// clock runs ahead would reopen the code to a second use.
	first, err := p.Store.Consume(ctx, consumeCode, h, ac.ExpiresAt.Add(store.AuthCodeKept))
	if err != nil {
		return nil, errServer(err)
	}
	if !first {
		return nil, p.replayed(ctx, r, grantCode, ac.GrantID, ac.Username, ac.ClientID, ac.SessionID)
	}
	user, e := p.activeUser(ctx, ac.Username)
	if e != nil {
		return nil, p.unspend(ctx, consumeCode, h, e)
	}
	scopes, _ := parseScope(ac.Scope)
	g := grant{client: client, user: &user, sessionID: ac.SessionID, authTime: ac.AuthTime, method: ac.Method,
		scopes: scopes, aud: aud, grantID: ac.GrantID}
	now := p.now()
	rt := store.RefreshToken{GrantID: ac.GrantID, ClientID: client.ClientID, Username: user.Username,
		SessionID: ac.SessionID, AuthTime: ac.AuthTime, Method: ac.Method, Scope: ac.Scope, Resources: authorized,
		IssuedAt: now.UTC(), ExpiresAt: now.Add(p.refreshTTL()).UTC(), GrantExpiresAt: now.Add(p.grantTTL()).UTC(),
		SessionExpiresAt: ac.SessionExpiresAt}
	// A grant without offline_access ends with its sign-in (signInEnded):
	// a code issued just before the person signed out, or before the
	// session expired, gives nothing once it has, as the refresh token it
	// would give could not be used.
	if ended, _, err := p.signInEnded(ctx, rt); err != nil {
		return nil, p.unspend(ctx, consumeCode, h, errServer(err))
	} else if ended {
		return nil, errInvalidGrant("the sign-in this code came from has ended")
	}
	resp, err := p.issue(ctx, r, audit.TokenIssued, grantCode, g, ac.Nonce, &rt)
	if err != nil {
		return nil, p.unspend(ctx, consumeCode, h, err)
	}
	// Ending the person's sign-ins (a new password, disabling them) while
	// this redemption ran deletes the code and revokes the grants of the
	// refresh tokens stored by then: not this one's, stored after. So the
	// code is asked for again, now that the refresh token is stored (the
	// store waits for such a transaction to end): gone, the grant is
	// revoked here and the client gets nothing.
	stands, err := id.AuthCodeStands(ctx, h)
	if err == nil && stands {
		return resp, nil
	}
	if rerr := id.Revoke(ctx, store.RevokedGrant, ac.GrantID, p.grantRevokedUntil(rt.GrantExpiresAt)); rerr != nil {
		return nil, errServer(errors.Join(err, rerr))
	}
	_ = p.record(ctx, audit.Event{Type: audit.TokenRevoked, Actor: ac.Username, Agent: client.ClientID, Session: ac.SessionID,
		Status: "ok", RemoteAddr: addrString(p.clientIP(r)),
		Detail: map[string]any{"grant_id": ac.GrantID, "reason": "the person's sign-ins ended while the code was redeemed"}})
	if err != nil {
		return nil, errServer(err)
	}
	return nil, errInvalidGrant("the code is invalid or expired")
}

// issue mints the access token, the refresh token when rt is set and the ID
// token when openid was granted, records the event, and returns the answer.
func (p *Provider) issue(ctx context.Context, r *http.Request, event, grantType string, g grant, nonce string, rt *store.RefreshToken) (*tokenResponse, error) {
	resp, err := p.mintAccess(g)
	if err != nil {
		return nil, errServer(err)
	}
	if rt != nil && grantRefused(g.client, grantRefresh) == nil {
		if resp.RefreshToken, err = p.newRefresh(ctx, *rt); err != nil {
			return nil, errServer(err)
		}
	}
	if g.user != nil && slices.Contains(g.scopes, "openid") {
		if resp.IDToken, err = p.mintIDToken(g, nonce, resp.AccessToken); err != nil {
			return nil, errServer(err)
		}
	}
	// Durable before the client sees a token.
	if err := p.record(ctx, p.tokenEvent(r, event, grantType, resp)); err != nil {
		return nil, errServer(err)
	}
	return resp, nil
}

// grantRevokedUntil is how long the revocation of a grant that ends at
// grantEnd is kept: as long as the last of its tokens can verify. A refresh
// in the grant's last minutes mints an access token that outlives the grant
// by up to the access-token lifetime (and the replicas' tolerated skew);
// purged any sooner, the revocation would let that token through again.
func (p *Provider) grantRevokedUntil(grantEnd time.Time) time.Time {
	return grantEnd.Add(p.accessTTL() + accesstoken.Skew + time.Second)
}

// replayed answers a second use of a code or refresh token: the grant
// (every refresh token and access token it led to) is revoked. The record
// names the login session the grant came from.
func (p *Provider) replayed(ctx context.Context, r *http.Request, grantType, grantID, username, clientID, sessionID string) *Error {
	err := p.Store.Identity().Revoke(ctx, store.RevokedGrant, grantID, p.grantRevokedUntil(p.now().Add(p.grantTTL())))
	if err != nil {
		p.log().ErrorContext(ctx, "revoke replayed grant", "err", err)
	}
	// A used code or refresh token stays on record until its grant ends:
	// its holder may replay it at will, so its records are bounded
	// (recordRefusal). The grant is revoked all the same.
	if t := p.recordRefusal(ctx, r, audit.Event{Type: audit.TokenReuse, Actor: username, Agent: clientID, Session: sessionID,
		Status: "refused", RemoteAddr: addrString(p.clientIP(r)),
		Detail: map[string]any{"grant_type": grantType, "grant_id": grantID, "revoked": err == nil}}); t != nil {
		return t
	}
	if grantType == grantCode {
		return errInvalidGrant("the code was already used; the tokens it issued are revoked")
	}
	return errInvalidGrant("the refresh token was already used; its family is revoked")
}

// wrongClient records that presenter, an authenticated client, presented
// a code or refresh token (grantType) issued to issuedTo for username:
// only a stolen one gets into another client's hands. The token itself is
// refused (and not spent) whether or not the record is taken. The records
// are bounded per address (recordRefusal): past the bound it returns the
// 429 to answer instead of the refusal.
func (p *Provider) wrongClient(ctx context.Context, r *http.Request, grantType, presenter, username, issuedTo, sessionID string) *Error {
	return p.recordRefusal(ctx, r, audit.Event{Type: audit.TokenWrongClient, Actor: username, Agent: presenter, Session: sessionID,
		Status: "refused", RemoteAddr: addrString(p.clientIP(r)),
		Detail: map[string]any{"grant_type": grantType, "issued_to": issuedTo}})
}

func s256(verifier string) string {
	s := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(s[:])
}

// narrowResources applies RFC 8707 at the token endpoint: the resources
// asked for must be within those granted; none asked means all granted.
func (p *Provider) narrowResources(asked, granted []string) ([]string, *Error) {
	res, e := p.resources(asked)
	if e != nil {
		return nil, e
	}
	if len(res) == 0 {
		return granted, nil
	}
	if !subset(res, granted) {
		return nil, errInvalidTarget("the resource was not part of the grant")
	}
	return res, nil
}

func (p *Provider) activeUser(ctx context.Context, username string) (store.User, *Error) {
	u, err := p.Store.Users().Get(ctx, username)
	if errors.Is(err, store.ErrNotFound) {
		return u, errInvalidGrant("the user no longer exists")
	}
	if err != nil {
		return u, errServer(err)
	}
	if u.Disabled {
		return u, errInvalidGrant("the user is disabled")
	}
	return u, nil
}

// holder is the person a refresh token was issued to, active: not one
// disabled, removed, or removed and created again since (a person of that
// name created after the token is another person, as Standing holds for
// access tokens). Removing a person ends their grants (EndUser); this
// holds without it, as the access tokens' check does. The token's IssuedAt
// tells, not the grant's AuthTime: a federated sign-in's is the upstream's,
// which may come before the person was created at that sign-in.
func (p *Provider) holder(ctx context.Context, rt store.RefreshToken) (store.User, *Error) {
	u, e := p.activeUser(ctx, rt.Username)
	if e == nil && rt.IssuedAt.Before(u.CreatedAt.Add(-accesstoken.CreationMargin)) {
		return u, errInvalidGrant("the user no longer exists")
	}
	return u, e
}

func (p *Provider) grantRefresh(ctx context.Context, r *http.Request, client store.Client, f form) (*tokenResponse, error) {
	tok := get(f, "refresh_token")
	if tok == "" {
		return nil, errInvalidRequest("refresh_token is required")
	}
	id := p.Store.Identity()
	h := digest(tok)
	old, err := id.RefreshToken(ctx, h)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errInvalidGrant("the refresh token is invalid or expired")
	}
	if err != nil {
		return nil, errServer(err)
	}
	now := p.now()
	// (Issued, not signed in: a person may sign in before the client
	// registers itself.)
	if old.ClientID != client.ClientID || !since(client, old.IssuedAt) {
		if old.ClientID != client.ClientID {
			if t := p.wrongClient(ctx, r, grantRefresh, client.ClientID, old.Username, old.ClientID, old.SessionID); t != nil {
				return nil, t
			}
		}
		return nil, errInvalidGrant("the refresh token was issued to another client")
	}
	if !now.Before(old.GrantExpiresAt) {
		return nil, errInvalidGrant("the refresh token is invalid or expired")
	}
	// A used token is a replay also once its own lifetime is over: kept,
	// with its single-use marker, until its grant ends, so that a client
	// coming back after a thief rotated its token on revokes the thief's
	// tokens too (as a code replayed late does).
	if used, err := id.Consumed(ctx, consumeRefresh, h); err != nil {
		return nil, errServer(err)
	} else if used {
		return nil, p.replayed(ctx, r, grantRefresh, old.GrantID, old.Username, old.ClientID, old.SessionID)
	}
	if !now.Before(old.ExpiresAt) {
		return nil, errInvalidGrant("the refresh token is invalid or expired")
	}
	revoked, err := id.Revoked(ctx, old.GrantID, "")
	if err != nil {
		return nil, errServer(err)
	}
	if revoked {
		return nil, errInvalidGrant("the refresh token was revoked")
	}
	// Without offline_access a grant lasts as long as the sign-in it came
	// from (OpenID Connect Core section 11: offline_access is what asks
	// for access while the person is away): no refresh once that session
	// ended or would have expired.
	ended, seen, err := p.signInEnded(ctx, old)
	if err != nil {
		return nil, errServer(err)
	} else if ended {
		return nil, errInvalidGrant("the sign-in this grant came from has ended (ask for offline_access to keep access after it)")
	}
	// A second use is a replay whatever else it asks (above); a first use
	// with a scope or resource beyond the grant is refused without
	// spending the token (RFC 6749 section 6: the old token goes only when
	// a new one is issued), so the client's corrected retry is no replay.
	granted, _ := parseScope(old.Scope)
	scopes := granted
	if s := get(f, "scope"); s != "" {
		asked, e := parseScope(s)
		if e != nil {
			return nil, e
		}
		if !subset(asked, granted) {
			return nil, errInvalidScope("the scope exceeds the grant")
		}
		if !keepsToolScopes(asked, granted) {
			return nil, errInvalidScope("the grant is narrowed to tools: the scope must name one of them")
		}
		scopes = asked
	}
	aud, e := p.narrowResources(f["resource"], old.Resources)
	if e != nil {
		return nil, e
	}
	first, err := p.Store.Consume(ctx, consumeRefresh, h, old.GrantExpiresAt.Add(markerKept))
	if err != nil {
		return nil, errServer(err)
	}
	if !first {
		return nil, p.replayed(ctx, r, grantRefresh, old.GrantID, old.Username, old.ClientID, old.SessionID)
	}
	user, e := p.holder(ctx, old)
	if e != nil {
		return nil, p.unspend(ctx, consumeRefresh, h, e)
	}
	g := grant{client: client, user: &user, sessionID: old.SessionID, authTime: old.AuthTime, method: old.Method,
		scopes: scopes, aud: aud, grantID: old.GrantID}
	// The new token keeps the grant's whole scope (RFC 6749 §6) and never
	// outlives the family.
	next := old
	next.IssuedAt = now.UTC()
	next.ExpiresAt = minTime(now.Add(p.refreshTTL()), old.GrantExpiresAt).UTC()
	resp, err := p.issue(ctx, r, audit.TokenRefreshed, grantRefresh, g, "", &next)
	if err != nil {
		return nil, p.unspend(ctx, consumeRefresh, h, err)
	}
	p.signInUsed(ctx, old, seen)
	return resp, nil
}

// unspendTimeout bounds giving back a code or refresh token (unspend),
// which runs also when the request has ended.
const unspendTimeout = 5 * time.Second

// unspend gives back the code or refresh token (kind, id) that Consume
// spent, when its use failed with a server error (err): the new refresh
// token, or the record that is durable before a token is handed out,
// could not be stored, and the client got nothing. Its retry is then a
// first use, not a replay that revokes the whole grant (and is recorded
// as a token reuse nobody committed). A refusal (the person disabled
// meanwhile) keeps it spent. It returns err.
func (p *Provider) unspend(ctx context.Context, kind, id string, err error) error {
	if e := asError(err); e.Code != "server_error" {
		return err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), unspendTimeout)
	defer cancel()
	if uerr := p.Store.Identity().Unconsume(ctx, kind, id); uerr != nil {
		p.log().ErrorContext(ctx, "a code or refresh token whose use failed stays spent", "kind", kind, "err", uerr)
	}
	return err
}

// signInEnded reports whether rt's grant, one without offline_access,
// has ended with the sign-in it came from: that login session ended, has
// expired or has gone unused for the idle timeout, either of which is
// ended here, and recorded, as a browser's request would end it. seen is
// the session's last recorded use as it read it (zero when it read none),
// for signInUsed.
func (p *Provider) signInEnded(ctx context.Context, rt store.RefreshToken) (ended bool, seen time.Time, err error) {
	end, bound := p.signInEnd(rt)
	if !bound {
		return false, time.Time{}, nil
	}
	now := p.now()
	if !now.Before(end) {
		// Noticed here when the app comes back before the browser: the
		// end is recorded as the browser's request would record it, as
		// the idle end when the session went idle before its end.
		s, err := p.Store.Identity().SessionByID(ctx, rt.SessionID)
		if err == nil && p.idleEnded(s, s.ExpiresAt) {
			if _, err := p.endIdleSession(ctx, s, ""); err != nil {
				p.log().ErrorContext(ctx, "end idle session", "err", err)
			}
		} else if err == nil || errors.Is(err, store.ErrNotFound) {
			p.endExpiredSession(ctx, rt.SessionID, rt.Username, end, "")
		}
		return true, time.Time{}, nil
	}
	if _, on := p.sessionIdle(); on {
		s, err := p.Store.Identity().SessionByID(ctx, rt.SessionID)
		switch {
		case err == nil && p.idleEnded(s, now):
			// Ended whether or not the end can be stored now: a later
			// request ends it again.
			if _, err := p.endIdleSession(ctx, s, ""); err != nil {
				p.log().ErrorContext(ctx, "end idle session", "err", err)
			}
			return true, time.Time{}, nil
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return false, time.Time{}, err
		case err == nil:
			seen = s.LastSeenAt
		}
	}
	ended, err = p.Store.Identity().Consumed(ctx, consumeSessionEnd, rt.SessionID)
	return ended, seen, err
}

// signInUsed records a refresh of rt's grant, one without offline_access,
// as the person's use of the sign-in it came from, as a page view is
// recorded (at most every sessionUseRecorded): an agent at work for the
// person keeps their sign-in from going idle, as the browser does.
// Decision: the person is at work through the agent (a chat of an hour
// and more), and an hour's idle end would otherwise sign them out of it;
// a session that neither the browser nor any app of the sign-in has used
// for the idle timeout still ends. Only a refresh that issued tokens is a
// use: one refused (a scope beyond the grant, a person disabled, a lost
// race) keeps nothing alive. A failure costs the person at most an
// earlier end. seen is the last use signInEnded read of the session (zero:
// it read none, the idle timeout being off or the session gone): no
// second read of it on the refresh's path.
func (p *Provider) signInUsed(ctx context.Context, rt store.RefreshToken, seen time.Time) {
	now := p.now()
	if seen.IsZero() || now.Sub(seen) < p.sessionUseRecorded() {
		return
	}
	if err := p.Store.Identity().TouchSession(ctx, rt.SessionID, now); err != nil {
		p.log().ErrorContext(ctx, "record session use", "err", err)
	}
}

// signInEnd is when the login session rt's grant came from expires, and
// whether the grant ends with it (one without offline_access).
func (p *Provider) signInEnd(rt store.RefreshToken) (time.Time, bool) {
	granted, _ := parseScope(rt.Scope)
	if slices.Contains(granted, "offline_access") || rt.SessionID == "" {
		return time.Time{}, false
	}
	// The session's own end: a federated session's AuthTime is the
	// upstream's, which may be long before the session was stored. A
	// token stored before the end was kept has AuthTime to go by.
	if !rt.SessionExpiresAt.IsZero() {
		return rt.SessionExpiresAt, true
	}
	return rt.AuthTime.Add(p.sessionTTL()), true
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// clientScopes are the scopes a client may hold for itself in a token for
// aud: not the OpenID Connect ones, which are about a person.
func (p *Provider) clientScopes(asked, aud []string) ([]string, *Error) {
	var out []string
	for _, s := range p.requestable(asked, aud) {
		if !slices.Contains(standardScopes, s) {
			out = append(out, s)
		}
	}
	if e := p.checkToolScopes(out); e != nil {
		return nil, e
	}
	return out, nil
}

func (p *Provider) grantClientCredentials(ctx context.Context, r *http.Request, client store.Client, f form) (*tokenResponse, error) {
	if !client.Confidential() {
		return nil, errUnauthorizedClient("client_credentials needs a confidential client")
	}
	if client.Kind != store.KindService && client.Kind != store.KindAgent {
		return nil, errUnauthorizedClient("client_credentials is for service and agent clients")
	}
	asked, e := parseScope(get(f, "scope"))
	if e != nil {
		return nil, e
	}
	aud, e := p.resources(f["resource"])
	if e != nil {
		return nil, e
	}
	if len(aud) == 0 {
		aud = []string{p.MCPResource}
	}
	asked, refused := p.registeredScopes(client, p.requestable(asked, aud))
	if refused {
		return nil, errBeyondRegistration(client)
	}
	scopes, e := p.clientScopes(asked, aud)
	if e != nil {
		return nil, e
	}
	g := grant{client: client, scopes: scopes, aud: aud}
	return p.issue(ctx, r, audit.TokenIssued, grantClientCredentials, g, "", nil)
}

// maxExchanges bounds how many exchanges a token may come from: each one
// nests the act claim once more and names one more token whose revocation
// is checked at every use (Claims.Parents), so an agent exchanging its own
// tokens over and over cannot make them grow without end.
const maxExchanges = 8

// RFC 8693 token types.
const (
	tokenTypeAccess  = "urn:ietf:params:oauth:token-type:access_token"
	tokenTypeRefresh = "urn:ietf:params:oauth:token-type:refresh_token"
)

// grantTokenExchange lets an agent act for a person (RFC 8693 delegation):
// the subject token is the person's access token, the actor is the
// authenticated agent client (proved again by actor_token when one is
// sent). The result's act names the agent, and any earlier actors nested
// inside it; it never outlives the subject token or its grant, and revoking
// the subject token revokes it (Claims.Parents).
func (p *Provider) grantTokenExchange(ctx context.Context, r *http.Request, client store.Client, f form) (_ *tokenResponse, err error) {
	// A refusal is recorded: an agent asking to act for a person it may
	// not act for (no consent, a scope or audience beyond it) leaves a
	// trace, as a failed sign-in does. The subject is named once its
	// token verified.
	var subject accesstoken.Claims
	defer func() {
		if e := (*Error)(nil); errors.As(err, &e) && e.Code != "server_error" {
			if t := p.exchangeRefused(ctx, r, client, subject, e); t != nil {
				err = t
			}
		}
	}()
	if !client.Confidential() {
		return nil, errUnauthorizedClient("token exchange needs an authenticated client")
	}
	if client.Kind != store.KindAgent {
		return nil, errUnauthorizedClient("only agent clients may act for a person")
	}
	st, stt := get(f, "subject_token"), get(f, "subject_token_type")
	switch {
	case st == "" || stt == "":
		return nil, errInvalidRequest("subject_token and subject_token_type are required")
	case stt != tokenTypeAccess:
		return nil, errInvalidRequest("subject_token_type must be %s", tokenTypeAccess)
	}
	if rtt := get(f, "requested_token_type"); rtt != "" && rtt != tokenTypeAccess {
		return nil, errInvalidRequest("requested_token_type must be %s", tokenTypeAccess)
	}
	verified, err := p.parseAccessToken(ctx, st)
	if err != nil {
		if errors.Is(err, accesstoken.ErrInvalid) || errors.Is(err, accesstoken.ErrExpired) {
			// A token whose signature verified (its claims decoded, this
			// issuer's) but that expired, was revoked or no longer stands
			// is still a person's: the refusal names them and the token,
			// as an agent replaying a revoked token is worth telling.
			if verified.Issuer == p.Issuer && verified.JTI != "" {
				subject = verified
			}
			return nil, errInvalidGrant("the subject_token is invalid, expired or revoked")
		}
		return nil, errServer(err)
	}
	subject = verified
	// The result never outlives the subject token: one past its expiry by
	// this server's clock (parseAccessToken allows other replicas' skew)
	// would give a token already expired, with a negative expires_in
	// (RFC 6749 §5.1: a lifetime), which clients such as oauth4webapi
	// refuse as malformed. Expired here, as introspection says too.
	if p.now().Unix() >= subject.Expiry {
		return nil, errInvalidGrant("the subject_token is invalid, expired or revoked")
	}
	if subject.GrantID == "" {
		return nil, errInvalidGrant("the subject_token does not represent a person")
	}
	if len(subject.Parents) >= maxExchanges {
		return nil, errInvalidGrant("the subject_token was exchanged %d times already: ask with the person's own token", maxExchanges)
	}
	at, att := get(f, "actor_token"), get(f, "actor_token_type")
	switch {
	case at == "" && att != "":
		return nil, errInvalidRequest("actor_token_type without actor_token")
	case at != "" && att != tokenTypeAccess:
		return nil, errInvalidRequest("actor_token_type must be %s", tokenTypeAccess)
	case at != "":
		actor, err := p.parseAccessToken(ctx, at)
		if err != nil && !errors.Is(err, accesstoken.ErrInvalid) && !errors.Is(err, accesstoken.ErrExpired) {
			// The store could not say whether it stands: not the
			// client's mistake, and worth trying again.
			return nil, errServer(err)
		}
		if err != nil || actor.Subject != client.ClientID || actor.ClientID != client.ClientID || actor.GrantID != "" {
			return nil, errInvalidRequest("the actor_token does not represent the authenticated client")
		}
	}
	user, e := p.activeUser(ctx, subject.Subject)
	if e != nil {
		return nil, e
	}
	// Holding a person's token is not enough: the person must have let
	// this agent act for them. The tenant vouches for a first-party agent;
	// any other needs the person's consent on record (given when they
	// signed in through it), and gets no more than it covers. An agent
	// re-exchanging its own token needs nothing more: that token is
	// already within what the person allowed it.
	// In every case the result stays within the subject token: scopes
	// within its scope, audiences within its audience.
	var consentScopes, consentRes []string // nil: no limit beyond the subject token
	if !client.FirstParty && subject.ClientID != client.ClientID {
		c, err := p.Store.Identity().Consent(ctx, user.Username, client.ClientID)
		if err == nil && !since(client, c.GrantedAt) {
			err = store.ErrNotFound // given to an earlier client of this ID
		}
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return nil, errInvalidGrant("the person has not allowed this agent to act for them")
			}
			return nil, errServer(err)
		}
		consentScopes, consentRes = mergeSorted(c.Scopes, nil), p.consentResources(c)
	}
	// A consent naming tools narrows to them a subject token naming none
	// (which reaches every tool): the agent gets what the person allowed
	// it, not what the other client was allowed.
	granted, _ := parseScope(subject.Scope)
	if consentScopes != nil {
		var ok bool
		if granted, ok = narrowestOf(granted, consentScopes); !ok {
			return nil, errInvalidScope("the person allowed this agent none of the subject token's tools")
		}
	}
	scopes := granted
	if s := get(f, "scope"); s != "" {
		asked, e := parseScope(s)
		if e != nil {
			return nil, e
		}
		// Tool scopes asked of a subject token naming none (which reaches
		// every tool) are new to the grant, as an authorization request's
		// are: held to the same count and names, or the token, and its
		// record, would grow with the request body.
		if e := p.checkToolScopes(asked); e != nil {
			return nil, e
		}
		if !coveredBy(asked, granted) {
			return nil, errInvalidScope("the scope exceeds the subject token's")
		}
		scopes = asked
	}
	// Within what the agent registered, too: asking beyond it is refused,
	// and an implicit scope (the subject token's) is narrowed to it.
	var refused bool
	if scopes, refused = p.registeredScopes(client, scopes); refused && get(f, "scope") != "" {
		return nil, errBeyondRegistration(client)
	}
	// A subject token narrowed to tools gives a token narrowed to tools
	// (one naming none would reach every tool), whatever the consent
	// left of its scope.
	if subjectScopes, _ := parseScope(subject.Scope); !keepsToolScopes(scopes, subjectScopes) {
		return nil, errInvalidScope("the subject token is narrowed to tools: the scope must name one of them")
	}
	allowed := []string(subject.Audience)
	if consentRes != nil {
		allowed = intersect(allowed, consentRes)
	}
	aud, e := p.resources(append(append([]string{}, f["resource"]...), f["audience"]...))
	switch {
	case e != nil:
		return nil, e
	case len(aud) == 0 && len(allowed) == 0:
		return nil, errInvalidTarget("the person did not allow this agent the subject token's audience")
	case len(aud) == 0:
		aud = allowed
	case !subset(aud, allowed):
		return nil, errInvalidTarget("the resource is not within the subject token's audience and the person's consent")
	}
	g := grant{client: client, user: &user, sessionID: subject.SessionID, authTime: time.Unix(subject.AuthTime, 0),
		scopes: scopes, aud: aud, grantID: subject.GrantID, notAfter: time.Unix(subject.Expiry, 0),
		act:     &accesstoken.Actor{Sub: client.ClientID, ClientID: client.ClientID, Act: priorActors(subject, client.ClientID)},
		parents: append(slices.Clip(subject.Parents), subject.JTI)}
	// No ID token and no refresh token: the agent asks again with a fresh
	// subject token.
	resp, err := p.mintAccess(g)
	if err != nil {
		return nil, errServer(err)
	}
	resp.IssuedTokenType = tokenTypeAccess
	ev := p.tokenEvent(r, audit.TokenExchanged, grantTokenExchange, resp)
	ev.Detail["subject_token_id"] = subject.JTI
	if err := p.record(ctx, ev); err != nil {
		return nil, errServer(err)
	}
	return resp, nil
}

// priorActors is who acted for the person before clientID, in the act of
// a token clientID exchanges subject for: subject's own act when it was
// exchanged itself, else the client it was issued to. That client acted
// for the person too (the gateway reads a token without act so), and
// handing its token on must not shed it: its cap still narrows what the
// exchanged token may call, and its being disabled or removed ends it.
// An agent exchanging its own token is named once.
func priorActors(subject accesstoken.Claims, clientID string) *accesstoken.Actor {
	if subject.Act != nil || subject.ClientID == "" || subject.ClientID == clientID {
		return subject.Act
	}
	return &accesstoken.Actor{Sub: subject.ClientID, ClientID: subject.ClientID}
}

// exchangeRefused records the refusal e of a token exchange by client:
// the person, login session and token of the subject token when it
// verified (subject), never a token itself. A public client needs no
// secret to be refused, so the records are bounded per address
// (recordRefusal): past the bound it returns the 429 to answer instead.
func (p *Provider) exchangeRefused(ctx context.Context, r *http.Request, client store.Client, subject accesstoken.Claims, e *Error) *Error {
	ev := audit.Event{Type: audit.TokenExchanged, Agent: client.ClientID, Status: "refused", Decision: "deny",
		RemoteAddr: addrString(p.clientIP(r)),
		Detail:     map[string]any{"grant_type": grantTokenExchange, "error": e.Code, "reason": truncate(e.Description, 512)}}
	if subject.JTI != "" {
		ev.Session = subject.SessionID
		ev.Detail["subject_token_id"] = subject.JTI
		if subject.GrantID != "" {
			ev.Actor = subject.Subject
		}
		if prior := priorActors(subject, client.ClientID); prior != nil {
			ev.Chain = append([]string{client.ClientID}, prior.Chain()...)
		}
	}
	return p.recordRefusal(ctx, r, ev)
}
