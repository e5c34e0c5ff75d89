package identity

// The endpoints that take a token: userinfo (OpenID Connect Core §5.3),
// revocation (RFC 7009) and introspection (RFC 7662).

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/identity/accesstoken"
	"github.com/gatehouse/gatehouse/internal/store"
)

// bearerToken reads an RFC 6750 bearer token from the Authorization header,
// or from a form body (§2.2) when there is no header. Tokens in the query
// are not accepted (OAuth 2.1).
func bearerToken(w http.ResponseWriter, r *http.Request) (string, *Error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, _ := strings.Cut(h, " ")
		switch {
		case !strings.EqualFold(scheme, "Bearer"):
			// RFC 6750 §3.1: a scheme this resource does not take is no
			// credentials at all (a 401 with the Bearer challenge).
			return "", nil
		case strings.TrimSpace(tok) == "":
			return "", errInvalidRequest("the Authorization header holds no token")
		}
		return strings.TrimSpace(tok), nil
	}
	if r.Method == http.MethodPost {
		f, e := parseForm(w, r)
		if e != nil {
			return "", e
		}
		if t := f.Get("access_token"); t != "" {
			return t, nil
		}
	}
	return "", nil
}

func (p *Provider) handleUserinfo(w http.ResponseWriter, r *http.Request) {
	tok, e := bearerToken(w, r)
	if e != nil {
		if e.Code == "invalid_request" {
			w.Header().Set("WWW-Authenticate", bearerChallenge(e)) // RFC 6750 §3
		}
		p.writeError(w, r, e)
		return
	}
	if tok == "" {
		// RFC 6750 §3.1: no error code when no credentials were sent.
		w.Header().Set("WWW-Authenticate", `Bearer realm="`+p.Issuer+`"`)
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	ctx := r.Context()
	c, err := p.parseAccessToken(ctx, tok)
	if err != nil {
		if errors.Is(err, accesstoken.ErrInvalid) || errors.Is(err, accesstoken.ErrExpired) {
			p.writeError(w, r, errInvalidToken("the access token is invalid, expired or revoked"))
			return
		}
		p.writeError(w, r, errServer(err))
		return
	}
	scopes, _ := parseScope(c.Scope)
	if c.GrantID == "" {
		p.writeError(w, r, errInvalidToken("the access token does not represent a person"))
		return
	}
	if !slices.Contains(scopes, "openid") {
		p.writeError(w, r, errInsufficientScope("the openid scope is required"))
		return
	}
	u, e := p.activeUser(ctx, c.Subject)
	if e != nil {
		if e.Code == "server_error" {
			p.writeError(w, r, e)
			return
		}
		p.writeError(w, r, errInvalidToken("the user is no longer active"))
		return
	}
	out := map[string]any{"sub": u.Username}
	if slices.Contains(scopes, "profile") {
		out["preferred_username"] = u.Username
	}
	if slices.Contains(scopes, "email") && u.Email != "" {
		out["email"] = u.Email
	}
	writeJSON(w, http.StatusOK, out)
}

func (p *Provider) handleIntrospect(w http.ResponseWriter, r *http.Request) {
	f, e := parseForm(w, r)
	if e != nil {
		p.writeError(w, r, e)
		return
	}
	ctx := r.Context()
	client, method, e := p.authClient(ctx, r, f)
	if e == nil && method == authNone {
		e = errInvalidClient("introspection needs an authenticated client")
	}
	if e != nil {
		p.writeError(w, r, e)
		return
	}
	tok := f.Get("token")
	if tok == "" {
		p.writeError(w, r, errInvalidRequest("token is required"))
		return
	}
	if p.Introspect != nil {
		if resp, ok := p.Introspect(ctx, tok, client.ClientID, client.Kind == store.KindService); ok {
			if resp == nil {
				// Not {"active": false}, which a tool reads as a slip
				// used or not its own: it refuses as it does when the
				// issuer cannot be reached.
				p.writeError(w, r, errServer(errors.New("introspection undecided: the store failed")))
				return
			}
			writeJSON(w, http.StatusOK, resp)
			return
		}
	}
	// token_type_hint is not needed: the token's form tells (RFC 7662
	// §2.1: a wrong hint must not hide a token).
	resp, err := p.introspect(r, client, tok)
	if err != nil {
		p.writeError(w, r, errServer(err))
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

var inactive = map[string]any{"active": false}

func (p *Provider) introspect(r *http.Request, client store.Client, tok string) (map[string]any, error) {
	ctx := r.Context()
	if strings.Count(tok, ".") == 2 {
		c, err := p.parseAccessToken(ctx, tok)
		if err == nil {
			// Expired by the issuer's own clock (RFC 7662: inactive); the
			// skew parseAccessToken allows is for other replicas' clocks.
			// And only a resource server (a service client) or the
			// client the token was issued to learns about a token: any
			// other client, a self-registered one say, learns nothing of
			// whose it is or whether it was revoked.
			if p.now().Unix() >= c.Expiry || client.Kind != store.KindService && c.ClientID != client.ClientID {
				return inactive, nil
			}
			out := map[string]any{"active": true, "token_type": "Bearer", "scope": c.Scope, "client_id": c.ClientID,
				"sub": c.Subject, "aud": c.Audience, "iss": c.Issuer, "jti": c.JTI, "exp": c.Expiry, "iat": c.IssuedAt}
			if c.GrantID != "" {
				out["username"] = c.Subject
			}
			if c.Act != nil {
				out["act"] = c.Act
			}
			return out, nil
		}
		if !errors.Is(err, accesstoken.ErrInvalid) && !errors.Is(err, accesstoken.ErrExpired) {
			return nil, err
		}
	}
	if !strings.HasPrefix(tok, prefixRefresh) {
		return inactive, nil
	}
	id := p.Store.Identity()
	h := digest(tok)
	rt, err := id.RefreshToken(ctx, h)
	if errors.Is(err, store.ErrNotFound) {
		return inactive, nil
	}
	if err != nil {
		return nil, err
	}
	// Only the client a refresh token belongs to may learn about it.
	now := p.now()
	// A client removed and created again under the same ID is another
	// client: its predecessor's refresh tokens are refused at /token
	// (grantRefresh), so they are inactive here too.
	if rt.ClientID != client.ClientID || !since(client, rt.IssuedAt) || !now.Before(rt.ExpiresAt) || !now.Before(rt.GrantExpiresAt) {
		return inactive, nil
	}
	used, err := id.Consumed(ctx, consumeRefresh, h)
	if err != nil {
		return nil, err
	}
	revoked, err := id.Revoked(ctx, rt.GrantID, "")
	if err != nil {
		return nil, err
	}
	if used || revoked {
		return inactive, nil
	}
	if ended, _, err := p.signInEnded(ctx, rt); err != nil || ended {
		return inactive, err
	}
	// Nor is one whose person /token would refuse (holder).
	if _, e := p.holder(ctx, rt); e != nil {
		if e.Code == "server_error" {
			return nil, e
		}
		return inactive, nil
	}
	// exp is when the token stops working: a grant without offline_access
	// ends with its sign-in, before the token's own expiry.
	exp := rt.ExpiresAt
	if end, bound := p.signInEnd(rt); bound && end.Before(exp) {
		exp = end
	}
	return map[string]any{"active": true, "scope": rt.Scope, "client_id": rt.ClientID, "username": rt.Username,
		"sub": rt.Username, "iss": p.Issuer, "exp": exp.Unix(), "iat": rt.IssuedAt.Unix()}, nil
}

// handleRevoke revokes a refresh token (its whole family, RFC 7009 §2.1)
// or an access token of the requesting client. Unknown and foreign tokens
// get the same 200 as revoked ones.
func (p *Provider) handleRevoke(w http.ResponseWriter, r *http.Request) {
	f, e := parseForm(w, r)
	if e != nil {
		p.writeError(w, r, e)
		return
	}
	ctx := r.Context()
	client, _, e := p.authClient(ctx, r, f)
	if e != nil {
		p.writeError(w, r, e)
		return
	}
	tok := f.Get("token")
	if tok == "" {
		p.writeError(w, r, errInvalidRequest("token is required"))
		return
	}
	id := p.Store.Identity()
	ev := audit.Event{Type: audit.TokenRevoked, Agent: client.ClientID, Status: "ok", RemoteAddr: addrString(p.clientIP(r))}
	var err error
	if strings.HasPrefix(tok, prefixRefresh) {
		rt, gerr := id.RefreshToken(ctx, digest(tok))
		var revoked bool
		if gerr == nil && rt.ClientID == client.ClientID {
			// A grant revoked already is left as it is, and unrecorded:
			// the token stays on record until the grant ends, and each
			// repeat would otherwise be a commit and a record (an access
			// token revoked already does not parse, below).
			revoked, gerr = id.Revoked(ctx, rt.GrantID, "")
		}
		switch {
		case gerr == nil && rt.ClientID == client.ClientID && revoked:
		case gerr == nil && rt.ClientID == client.ClientID:
			err = id.Revoke(ctx, store.RevokedGrant, rt.GrantID, p.grantRevokedUntil(rt.GrantExpiresAt))
			ev.Actor, ev.Session = rt.Username, rt.SessionID
			ev.Detail = map[string]any{"token_type": "refresh_token", "grant_id": rt.GrantID}
		case gerr != nil && !errors.Is(gerr, store.ErrNotFound):
			err = gerr
		}
	} else if c, perr := p.parseAccessToken(ctx, tok); perr == nil && c.ClientID == client.ClientID {
		err = id.Revoke(ctx, store.RevokedToken, c.JTI, expiryOf(c))
		ev.TokenID, ev.Session = c.JTI, c.SessionID
		if c.GrantID != "" {
			ev.Actor = c.Subject
		}
		if c.Act != nil {
			// An exchanged token: through whom its agent had it, as
			// its issuance was recorded (token.exchanged).
			ev.Chain = c.Act.Chain()
		}
		ev.Detail = map[string]any{"token_type": "access_token"}
	} else if perr != nil && !errors.Is(perr, accesstoken.ErrInvalid) && !errors.Is(perr, accesstoken.ErrExpired) {
		// The store could not say whether the token stands: nothing was
		// revoked, and a 200 would tell the client it was.
		err = perr
	}
	if err != nil {
		p.writeError(w, r, errServer(err))
		return
	}
	if ev.Detail != nil {
		_ = p.record(ctx, ev)
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// expiryOf is when a revocation of c may be forgotten: after the token
// could no longer verify anyway.
func expiryOf(c accesstoken.Claims) time.Time {
	return time.Unix(c.Expiry, 0).Add(accesstoken.Skew + time.Second)
}
