package identity

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/identity/accesstoken"
	"github.com/gatehouse/gatehouse/internal/store"
)

// Cookie names. On https the __Host- prefix binds them to this host (no
// Domain, Path=/, Secure), so a sibling subdomain cannot plant one. Path=/
// sends them to every tenant the host serves under an issuer with another
// path: under one name, each tenant's would replace the others' (signing
// in to one would sign the browser out of the rest), so the issuer's path
// is part of the name (cookieTag). Narrowing Path instead would cost the
// prefix, and keep nothing from a neighbour of the same origin.
func (p *Provider) cookieName(base string) string {
	if p.secure {
		return "__Host-" + base + p.cookieTag
	}
	return base + p.cookieTag
}

const (
	sessionCookie = "gh_session"
	loginCSRF     = "gh_login_csrf"
)

func (p *Provider) setCookie(w http.ResponseWriter, name, value string, maxAge time.Duration) {
	c := &http.Cookie{
		Name:     p.cookieName(name),
		Value:    value,
		Path:     "/",
		HttpOnly: true,
		Secure:   p.secure,
		SameSite: http.SameSiteLaxMode,
	}
	if maxAge < 0 {
		c.MaxAge = -1
	} else {
		c.MaxAge = int(maxAge / time.Second)
	}
	http.SetCookie(w, c)
}

func (p *Provider) cookie(r *http.Request, name string) string {
	c, err := r.Cookie(p.cookieName(name))
	if err != nil {
		return ""
	}
	return c.Value
}

// session returns the live login session of the request's cookie.
func (p *Provider) session(r *http.Request) (store.LoginSession, bool) {
	v := p.cookie(r, sessionCookie)
	if v == "" || len(v) > 100 {
		return store.LoginSession{}, false
	}
	s, err := p.Store.Identity().SessionBySecret(r.Context(), digest(v))
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			p.log().ErrorContext(r.Context(), "read session", "err", err)
		}
		return store.LoginSession{}, false
	}
	now := p.now()
	if !now.Before(s.ExpiresAt) && !p.idleEnded(s, s.ExpiresAt) {
		p.endExpiredSession(r.Context(), s.ID, s.Username, s.ExpiresAt, addrString(p.clientIP(r)))
		return store.LoginSession{}, false
	}
	// Past its end too, one that went idle first ended idle.
	if p.idleEnded(s, now) {
		if _, err := p.endIdleSession(r.Context(), s, addrString(p.clientIP(r))); err != nil {
			p.log().ErrorContext(r.Context(), "end idle session", "err", err)
		}
		return store.LoginSession{}, false
	}
	if now.Sub(s.LastSeenAt) >= p.sessionUseRecorded() {
		// A failure costs the person at most an earlier end; it does not
		// sign them out now.
		if err := p.Store.Identity().TouchSession(r.Context(), s.ID, now); err != nil {
			p.log().ErrorContext(r.Context(), "record session use", "err", err)
		} else {
			s.LastSeenAt = now
		}
	}
	return s, true
}

// idleEnded reports whether s has gone unused for the idle timeout at
// now. A session with no recorded use (stored before uses were kept) is
// not judged: its first lookup records one.
func (p *Provider) idleEnded(s store.LoginSession, now time.Time) bool {
	idle, on := p.sessionIdle()
	return on && !s.LastSeenAt.IsZero() && !now.Before(s.LastSeenAt.Add(idle))
}

// endIdleSession ends s, found unused for the idle timeout, unless a
// replica recorded a use of it meanwhile: its record goes, and the mark
// that ends the grants it gave without offline_access is written in the
// same step, as a sign-out writes it (endSession). The end is recorded
// as a logout with the reason idle_timeout, once, by whichever request
// ended it; remoteAddr is the browser's, when a browser's request found
// it. The browser's cookie stays: it names no session any more.
func (p *Provider) endIdleSession(ctx context.Context, s store.LoginSession, remoteAddr string) (bool, error) {
	idle, _ := p.sessionIdle()
	ended, err := p.Store.Identity().EndIdleSession(ctx, s.ID, p.now().Add(-idle), consumeSessionEnd, s.ExpiresAt.Add(markerKept))
	if err != nil || !ended {
		return false, err
	}
	_ = p.record(ctx, audit.Event{Type: audit.Logout, Session: s.ID, Actor: s.Username, Status: "ok", RemoteAddr: remoteAddr,
		Detail: map[string]any{"reason": "idle_timeout", "last_seen": s.LastSeenAt.UTC().Format(time.RFC3339)}})
	return true, nil
}

// endExpiredSession ends the session id of username, found past its
// absolute end (expired, the sessionTTL after its sign-in), and records
// the end as endIdleSession does: a logout with the reason expired, once,
// by whichever request, on any replica, removes its record. Its grants
// need no mark: they carry the session's end (signInEnd). An end nothing
// notices before the purge removes the record (store.SessionKept after
// it) is not recorded: the purge writes nothing per record. remoteAddr
// is the browser's, when a browser's request found it. A failure is
// logged: the session has ended either way, and a later request tries
// again.
func (p *Provider) endExpiredSession(ctx context.Context, id, username string, expired time.Time, remoteAddr string) {
	if id == "" {
		return
	}
	ended, err := p.Store.Identity().EndExpiredSession(ctx, id, p.now())
	if err != nil {
		p.log().ErrorContext(ctx, "end expired session", "err", err)
	}
	if !ended {
		return
	}
	_ = p.record(ctx, audit.Event{Type: audit.Logout, Session: id, Actor: username, Status: "ok", RemoteAddr: remoteAddr,
		Detail: map[string]any{"reason": "expired", "expired_at": expired.UTC().Format(time.RFC3339)}})
}

// sessionUser returns the session and its user, when both are live.
func (p *Provider) sessionUser(r *http.Request) (store.LoginSession, store.User, bool) {
	s, ok := p.session(r)
	if !ok {
		return s, store.User{}, false
	}
	u, err := p.Store.Users().Get(r.Context(), s.Username)
	if err != nil || !p.sessionOf(s, u) {
		return s, store.User{}, false
	}
	return s, u, true
}

// sessionOf reports whether s is a live session of u: u is not disabled,
// and s is not older than u. A session left over from an earlier person of
// the same name, removed since (stored in a race with the removal, say),
// signs in nobody, not the person added later under that name. The margin
// is the one tokens are allowed (accesstoken.CreationMargin), for the
// replicas' clocks and whole seconds: a person removed and added again
// within it is not told apart.
func (p *Provider) sessionOf(s store.LoginSession, u store.User) bool {
	if u.Disabled {
		return false
	}
	created := s.CreatedAt
	if created.IsZero() && s.Method == "pwd" {
		// Stored before sessions kept their creation: a password
		// sign-in's AuthTime is when it was stored. A federated one's is
		// the upstream's, older than a person its sign-in created, so
		// such a session is not judged.
		created = s.AuthTime
	}
	return created.IsZero() || u.CreatedAt.IsZero() || !created.Before(u.CreatedAt.Add(-accesstoken.CreationMargin))
}

// userNow reads username's user as it is once no transaction is changing
// it: under the row's lock, which a transaction that changes or removes
// the user (`user passwd`, removing, disabling, each with EndUser in the
// same transaction) holds until it ends, so the read waits for it and sees
// what it committed; a plain read would see the user as it was before. It
// waits for the user's lock only, not the tenant's: an apply holds that
// one while it checks every password of its file, and every sign-in of
// every replica would wait with it. ErrNotFound when the user is gone.
func (p *Provider) userNow(ctx context.Context, username string) (store.User, error) {
	return p.Store.Identity().UserNow(ctx, username)
}

// sessionStands reports whether s is still stored and its user still
// stands (sessionOf), once no transaction is changing the user (userNow).
// What is stored on the strength of a session (an authorization code)
// asks it after storing, for the same reason as a code's redemption asks
// AuthCodeStands: EndUser, in the transaction that changes or removes the
// user, deletes the person's sessions and codes. Either that transaction's
// deletion of codes came after the new record was committed, and deletes
// it and revokes its grant; or it came before, and then so did the change
// of the user (first in the transaction), so userNow waits for the
// transaction to end and the session is found gone.
func (p *Provider) sessionStands(ctx context.Context, s store.LoginSession) (bool, error) {
	u, err := p.userNow(ctx, s.Username)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if !p.sessionOf(s, u) {
		return false, nil
	}
	cur, err := p.Store.Identity().SessionBySecret(ctx, s.SecretHash)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return cur.ID == s.ID, nil
}

// SessionUser returns the person signed in on r's session cookie, for pages
// of other packages (the dashboard checks the admin role on it). ok is false
// when there is no live session or the user is gone or disabled.
func (p *Provider) SessionUser(r *http.Request) (store.User, bool) {
	_, u, ok := p.sessionUser(r)
	return u, ok
}

// SessionCSRF returns the signed-in session's CSRF token, for forms that
// other packages render (a dashboard POST, or the logout button that posts
// "csrf" to the end_session_endpoint); CheckSessionCSRF checks a posted one.
func (p *Provider) SessionCSRF(r *http.Request) (string, bool) {
	s, ok := p.session(r)
	return s.CSRF, ok && s.CSRF != ""
}

// CheckSessionCSRF reports whether token is the CSRF token of r's session.
func (p *Provider) CheckSessionCSRF(r *http.Request, token string) bool {
	s, ok := p.session(r)
	return ok && equalSecret(s.CSRF, token)
}

// LoginURL is where to send a person who must sign in before next (a path
// on this server, e.g. "/admin").
func (p *Provider) LoginURL(next string) string {
	return p.url(pathLogin) + "?next=" + urlQueryEscape(next)
}

// startSessionAt creates a new session for username (never reusing one
// that the browser brought: no session fixation), who authenticated at
// authTime (an upstream provider's auth_time), and sets its cookie. A
// password sign-in creates its session and sets the cookie in two steps
// (login.go), so that it can read the person again in between.
func (p *Provider) startSessionAt(ctx context.Context, w http.ResponseWriter, username, method string, authTime time.Time) (store.LoginSession, error) {
	s, secret, err := p.createSession(ctx, username, method, authTime)
	if err != nil {
		return s, err
	}
	p.setCookie(w, sessionCookie, secret, p.sessionTTL())
	return s, nil
}

// createSession stores a new session and returns it with the secret its
// cookie is to hold (setSessionCookie), which nothing else knows.
func (p *Provider) createSession(ctx context.Context, username, method string, authTime time.Time) (store.LoginSession, string, error) {
	secret := randomToken(prefixSession)
	now := p.now()
	s := store.LoginSession{
		ID: randomID(), SecretHash: digest(secret), Username: username, AuthTime: authTime.UTC().Truncate(time.Second),
		CSRF: randomToken(""), Method: method, ExpiresAt: now.Add(p.sessionTTL()).UTC().Truncate(time.Microsecond),
		CreatedAt: now.UTC().Truncate(time.Microsecond),
	}
	return s, secret, p.Store.Identity().CreateSession(ctx, s)
}

// setSessionCookie gives the browser the session's secret.
func (p *Provider) setSessionCookie(w http.ResponseWriter, secret string) {
	p.setCookie(w, sessionCookie, secret, p.sessionTTL())
}

// endSession ends s: its cookie, its record, and with them the grants it
// gave without offline_access (their refresh checks the mark).
func (p *Provider) endSession(ctx context.Context, w http.ResponseWriter, s store.LoginSession) error {
	p.setCookie(w, sessionCookie, "", -1)
	if s.ID == "" {
		return nil
	}
	if _, err := p.Store.Consume(ctx, consumeSessionEnd, s.ID, s.ExpiresAt.Add(markerKept)); err != nil {
		return err
	}
	return p.Store.Identity().DeleteSession(ctx, s.ID)
}

func equalSecret(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
