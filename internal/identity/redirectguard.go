package identity

// Guarding redirects to addresses anyone could have chosen. A client that
// registered itself (RFC 7591) or is described by a metadata document
// picked its own redirect and post-logout addresses, so an automatic
// redirect there would make this server an open redirector (RFC 9700
// §4.11.2): a link to /authorize with a bad parameter, or to /logout, would
// bounce a browser to any site. The rule:
//
//   - Authorization errors (including the person denying consent) go back
//     to such a client only when the person signed in in this browser has
//     consented to it before, for the destination the error would go to
//     (consentDest); otherwise they are shown as a page. A client whose
//     metadata document adds a host after the person allowed another
//     does not get errors bounced to the new one.
//     Tenant clients (configured by the operator) are trusted as before.
//   - After logout, the browser returns to post_logout_redirect_uri only
//     with an id_token_hint issued to that client (OpenID Connect
//     RP-Initiated Logout lets the provider require it); for a
//     self-registered client the hint must also belong to this browser's
//     current session, since anyone can get an ID token for their own
//     client. Otherwise the logged-out page is shown.

import (
	"net/http"
	"slices"

	"github.com/gatehouse/gatehouse/internal/store"
)

// selfRegistered reports whether the client chose its own redirect URIs.
func selfRegistered(c store.Client) bool {
	return c.Source == store.SourceRegistered || c.Source == store.SourceMetadata
}

// mayRedirectError reports whether an authorization error may be
// redirected to the client at redirectURI.
func (p *Provider) mayRedirectError(r *http.Request, c store.Client, redirectURI string) bool {
	if !selfRegistered(c) {
		return true
	}
	_, u, ok := p.sessionUser(r)
	if !ok {
		return false
	}
	// A consent given to an earlier client of the same ID (removed, and
	// back as a new client: a metadata document's URL comes back on its
	// next use) is not this client's, as the consent page agrees.
	cons, err := p.Store.Identity().Consent(r.Context(), u.Username, c.ClientID)
	return err == nil && since(c, cons.GrantedAt) && slices.Contains(cons.SendsTo, consentDest(c, redirectURI))
}

// refusedPage shows an authorization error instead of redirecting it. A
// self-registered client's name is the registrant's own text, and this
// page is anyone's to reach with a link to /authorize and a bad parameter,
// signed in or not: like the login and consent pages, it names such a
// client with its ID and says that the name is the client's own choice,
// so that a name worded as a notice ("Acme IT: your password has
// expired…") does not read as the organization's.
func (p *Provider) refusedPage(w http.ResponseWriter, r *http.Request, c store.Client, e *Error) {
	name := c.Name
	if name == "" || store.CheckDisplayName(name) != "" {
		name = c.ClientID
	}
	self := selfRegistered(c)
	if self && name != c.ClientID {
		name += " (" + c.ClientID + ")"
	}
	status, msg := http.StatusBadRequest, "The request of "+name+" cannot be handled"
	switch e.Code {
	case "server_error":
		status = http.StatusInternalServerError
	case "access_denied":
		status = http.StatusForbidden
		msg = "You did not allow " + name + " access"
	}
	if e.Description != "" {
		msg += " (" + e.Description + ")"
	}
	p.renderPage(w, r, status, "message", pageData{Title: "Request refused", Error: "1",
		Message: msg + ". You can close this window.", SelfRegistered: self})
}
