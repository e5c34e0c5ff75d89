package identity

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/gatehouse/gatehouse/internal/identity/accesstoken"
)

// Design note: known devices, so that guessing at a person's password
// cannot lock the person out.
//
// Failed sign-ins are counted per username from any address, so that
// guesses spread over many addresses still run into a limit. Counted so
// alone, anyone could keep a known account ("admin") locked out for good
// with a few wrong passwords a window. So a browser that signed in as a
// person before carries a device cookie saying so, signed by the tenant's
// keys: its sign-ins as that person are counted against that device (its
// own limit of MaxFailuresPerUser a window), not against the username, and
// the username's lockout, which strangers' guesses set off, does not stop
// them. A stranger has no such cookie for the account (it names the
// person it was given for), and gains nothing from one of their own.
// (The approach is OWASP's "device cookies" against online guessing.)
//
// The cookie is no credential: it carries no session and lets nothing in
// without the password. A cookie whose key was withdrawn, or that expired,
// is simply not believed, and its browser counts as a stranger's until it
// signs in again.

const (
	deviceCookie = "gh_device"
	// deviceType is the typ of a device cookie's JWS, which no other
	// token of the tenant's has: none of them passes for one.
	deviceType = "gh-device+jwt"
	// deviceTTL is how long a device stays known after its last sign-in.
	deviceTTL = 90 * 24 * time.Hour
	// maxDeviceCookie bounds the cookie looked at: the JWS of three
	// claims, one a username of up to maxUsername bytes.
	maxDeviceCookie = 2048
)

// deviceClaims are a device cookie's: the person it signed in as, the
// device's own ID (the key its failures are counted under) and its expiry.
type deviceClaims struct {
	Subject string `json:"sub"`
	ID      string `json:"jti"`
	Expiry  int64  `json:"exp"`
}

// knownDevice returns the ID of r's device when its cookie is one the
// tenant gave for a sign-in as username, still valid; "" otherwise.
func (p *Provider) knownDevice(r *http.Request, username string) string {
	v := p.cookie(r, deviceCookie)
	if v == "" || len(v) > maxDeviceCookie || username == "" || p.Keys == nil {
		return ""
	}
	payload, err := p.Keys.Verify(v, deviceType)
	if err != nil {
		return ""
	}
	var c deviceClaims
	if json.Unmarshal(payload, &c) != nil || c.Subject != username || c.ID == "" || p.now().Unix() >= c.Expiry {
		return ""
	}
	return c.ID
}

// setDevice gives the browser a device cookie for username (keeping its
// device ID when it had one for them): it is known for deviceTTL more.
func (p *Provider) setDevice(w http.ResponseWriter, r *http.Request, username string) {
	if p.Keys == nil {
		return
	}
	id := p.knownDevice(r, username)
	if id == "" {
		id = randomID()
	}
	v, err := p.Keys.SignJSON(accesstoken.Alg, deviceType, deviceClaims{Subject: username, ID: id, Expiry: p.now().Add(deviceTTL).Unix()})
	if err != nil {
		p.log().WarnContext(r.Context(), "login: sign a device cookie", "err", err)
		return
	}
	p.setCookie(w, deviceCookie, v, deviceTTL)
}
