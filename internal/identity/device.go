package identity

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/identity/accesstoken"
	"github.com/gatehouse/gatehouse/internal/store"
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
// without the password. A cookie that expired is simply not believed,
// and its browser counts as a stranger's until it signs in again. So is
// one given before the person's password changed,
// or given to an earlier person of the same username (userStamp): whoever
// learnt the old password, the reason it is changed, could otherwise have
// signed in from a fresh browser again and again beforehand, and guess at
// the new one with a device's limit for each.

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
// device's own ID (the key its failures are counted under), its expiry,
// and the userStamp of the person when it signed in.
type deviceClaims struct {
	Subject string `json:"sub"`
	ID      string `json:"jti"`
	Expiry  int64  `json:"exp"`
	User    string `json:"usr"`
}

// knownDevice returns the claims of r's device cookie when it is one the
// tenant gave for a sign-in as username, still valid; zero claims
// otherwise. Whether the person is still the one it signed in as is
// deviceOf's to tell, with the user read.
func (p *Provider) knownDevice(r *http.Request, username string) deviceClaims {
	v := p.cookie(r, deviceCookie)
	if v == "" || len(v) > maxDeviceCookie || username == "" || p.Keys == nil {
		return deviceClaims{}
	}
	// Against every key the tenant has had, not only those published: a
	// device stays known across a key rotation, for its 90 days. It is no
	// credential, and a cookie forged with a withdrawn key would still
	// need the person's userStamp, which only the store's password hash
	// gives.
	payload, err := p.Keys.VerifyArchived(v, deviceType)
	if err != nil {
		return deviceClaims{}
	}
	var c deviceClaims
	if json.Unmarshal(payload, &c) != nil || c.Subject != username || c.ID == "" || p.now().Unix() >= c.Expiry {
		return deviceClaims{}
	}
	return c
}

// deviceOf returns the ID of the device d when it signed in as u is now
// (the same person, with the same password); "" otherwise.
func deviceOf(d deviceClaims, u store.User) string {
	if d.ID == "" || d.Subject != u.Username || d.User != userStamp(u) {
		return ""
	}
	return d.ID
}

// userStamp tells apart the person u from an earlier one of the same
// username (their creation) and u before a change of password: a digest
// of both. It tells nothing of the password: the hash it is taken of is
// salted, and the salt is not in the cookie.
//
// A sign-in's rehash, which makes the hash again for the same password,
// keeps the stamp (store.User.DeviceStamp): the person's other browsers
// stay known. The kept stamp names the hash it was kept for, so any other
// change of the hash (a new password, set wherever) makes it moot.
func userStamp(u store.User) string {
	if s, of, ok := strings.Cut(u.DeviceStamp, " "); ok && s != "" && of == hashTag(u.PasswordHash) {
		return s
	}
	sum := sha256.Sum256([]byte(strconv.FormatInt(u.CreatedAt.UnixMicro(), 10) + "\x00" + u.PasswordHash))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// hashTag names a password hash in a kept DeviceStamp.
func hashTag(hash string) string {
	sum := sha256.Sum256([]byte(hash))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// keptStamp is the DeviceStamp of u once its hash is made again as h for
// the same password: u's stamp, kept for h.
func keptStamp(u store.User, h string) string {
	return userStamp(u) + " " + hashTag(h)
}

// setDevice gives the browser a device cookie for u, who just signed in
// with their password (keeping its device ID when it had one for them):
// it is known for deviceTTL more.
func (p *Provider) setDevice(w http.ResponseWriter, r *http.Request, u store.User) {
	if p.Keys == nil {
		return
	}
	id := deviceOf(p.knownDevice(r, u.Username), u)
	if id == "" {
		id = randomID()
	}
	v, err := p.Keys.SignJSON(accesstoken.Alg, deviceType, deviceClaims{Subject: u.Username, ID: id,
		Expiry: p.now().Add(deviceTTL).Unix(), User: userStamp(u)})
	if err != nil {
		p.log().WarnContext(r.Context(), "login: sign a device cookie", "err", err)
		return
	}
	p.setCookie(w, deviceCookie, v, deviceTTL)
}
