package identity

// RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0) at the
// end_session_endpoint, which is also the dashboard's sign-out. A request
// ends the session without asking when it proves it comes from the session's
// relying party (an id_token_hint of this session) or posts the session's
// CSRF token; otherwise the person is asked, as is a browser that posts
// without the session's cookie (an app's form, posted across sites, does
// not bring it). post_logout_redirect_uri must be
// registered for the client, exactly, else an error page — never a redirect — and
// is followed only with an id_token_hint issued to that client (of this
// session, for a self-registered client; see redirectguard.go); without
// one, the person sees the logged-out page.

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/keys"
)

func (p *Provider) handleLogout(w http.ResponseWriter, r *http.Request) {
	q, ferr := parseForm(w, r)
	if ferr != nil {
		p.errorPage(w, r, http.StatusBadRequest, ferr.Description)
		return
	}
	ctx := r.Context()
	sess, hasSess := p.session(r)
	var hint *idTokenClaims
	if h := q.Get("id_token_hint"); h != "" {
		c, err := p.parseIDToken(h)
		switch {
		case errors.Is(err, keys.ErrUnknownKey):
			// Signed by a key no longer published (withdrawn with
			// 'keys rotate --now', or rotated out): it vouches for
			// nothing, but the person may still sign out, asked as
			// without a hint. An error page would leave the session on.
		case err != nil:
			p.errorPage(w, r, http.StatusBadRequest, "The logout request carries an ID token that was not issued here.")
			return
		default:
			hint = &c
		}
	}
	clientID := q.Get("client_id")
	if hint != nil {
		switch {
		case clientID == "":
			clientID = hint.Audience[0]
		case !slices.Contains(hint.Audience, clientID):
			p.errorPage(w, r, http.StatusBadRequest, "The logout request's client_id does not match its ID token.")
			return
		}
	}
	back := q.Get("post_logout_redirect_uri")
	if back != "" {
		if clientID == "" {
			p.errorPage(w, r, http.StatusBadRequest, "post_logout_redirect_uri needs client_id or id_token_hint.")
			return
		}
		c, err := p.client(ctx, clientID)
		// Exactly as registered (RP-Initiated Logout 1.0 §3): the port
		// leeway of RFC 8252 §7.3 is for native apps' authorization
		// redirects, not for where a person is sent after signing out.
		if err != nil || !slices.Contains(c.PostLogoutRedirectURIs, back) {
			p.errorPage(w, r, http.StatusBadRequest, "The address to return to after signing out is not registered.")
			return
		}
	}
	// Decided before the session ends: whether the hint belongs to it.
	returnTo := back != "" && hint != nil && slices.Contains(hint.Audience, clientID)
	if returnTo {
		if c, err := p.client(ctx, clientID); err != nil || selfRegistered(c) &&
			(!hasSess || hint.SessionID == "" || hint.SessionID != sess.ID) {
			returnTo = false
		}
	}
	// A POST without the session's cookie may be the app's own form,
	// posted from its site (section 2 allows POST): the browser keeps a
	// SameSite=Lax cookie from it, so the request cannot tell whether the
	// browser is signed in. Taking it for signed out would send the
	// person back to the app as signed out with the session alive. The
	// person is asked on a page of this site, whose button brings the
	// cookie, and says it was asked: a browser with no session then is.
	// A form that carries a CSRF token is one of this site's too.
	cookieWithheld := r.Method == http.MethodPost && p.cookie(r, sessionCookie) == "" &&
		q.Get("asked") == "" && q.Get("csrf") == ""
	confirmed := !hasSess && !cookieWithheld ||
		(r.Method == http.MethodPost && equalSecret(sess.CSRF, q.Get("csrf"))) ||
		(hint != nil && hint.SessionID != "" && hint.SessionID == sess.ID)
	if !confirmed {
		hidden := map[string]string{"asked": "1"}
		for _, k := range []string{"id_token_hint", "client_id", "post_logout_redirect_uri", "state"} {
			if v := q.Get(k); v != "" {
				hidden[k] = v
			}
		}
		p.renderPage(w, r, http.StatusOK, "logout", pageData{Title: "Sign out", Action: p.url(pathLogout),
			CSRF: sess.CSRF, Username: sess.Username, Hidden: hidden})
		return
	}
	if err := p.endSession(ctx, w, sess); err != nil {
		p.log().ErrorContext(ctx, "end session", "err", err)
		p.errorPage(w, r, http.StatusInternalServerError, "Signing out failed. Please try again.")
		return
	}
	if hasSess {
		// The record names the client only when an ID token of this
		// person vouches for it: a client_id alone is anyone's to put in
		// a link, and the person confirming says nothing of it.
		agent := ""
		if hint != nil && hint.Subject == sess.Username && slices.Contains(hint.Audience, clientID) {
			agent = clientID
		}
		_ = p.record(ctx, audit.Event{Type: audit.Logout, Session: sess.ID, Actor: sess.Username, Agent: agent,
			Status: "ok", RemoteAddr: addrString(p.clientIP(r))})
	}
	if returnTo {
		v := url.Values{}
		if st := q.Get("state"); st != "" {
			v.Set("state", st)
		}
		target := back
		if len(v) > 0 {
			sep := "?"
			if strings.Contains(back, "?") {
				sep = "&"
			}
			target += sep + v.Encode()
		}
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Location", target)
		w.WriteHeader(http.StatusSeeOther)
		return
	}
	p.renderPage(w, r, http.StatusOK, "message", pageData{Title: "Signed out", Message: "You are signed out."})
}
