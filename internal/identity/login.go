package identity

// The login form. It works without JavaScript, is CSRF-protected with a
// double-submit cookie (the form exists before any session does), answers a
// good POST with 303, and answers every failure — unknown user, wrong
// password, disabled user — with the same message; too many attempts are
// answered 429 with their own message, the same whether the user exists.
// Attempts are counted in the database per username and per client address
// before the password is checked, so parallel guesses all count and the
// counters hold across replicas. Past a limit, only the attempt that
// reached it is recorded in the audit trail. Password checks (argon2id,
// tens of MiB each) run at most MaxPasswordChecks at once; an attempt that
// cannot get one within a moment is answered 503 "too many sign-ins at
// once" — which says nothing of the credentials — and audited as a
// failure of reason "busy". It has been counted like any other attempt, so
// a flood of them is throttled, and bounded in the trail, like any other.

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/password"
	"github.com/gatehouse/gatehouse/internal/store"
)

// badLogin is the one message of every failed login but a busy, throttled
// or failed one.
const badLogin = "Invalid username or password."

// busyLogin is the message of a login refused because too many password
// checks were running (reason "busy"): 503, with Retry-After.
const busyLogin = "Too many sign-ins at once. Please try again in a moment."

// throttledLogin is the message of a login refused because its username
// or its address is past its limit of attempts (reason "throttled"): 429,
// with Retry-After. It tells no more than badLogin of whether the user
// exists: the counters are kept by the name as given, before it is looked
// up, and by address. Told their password was wrong, a person locked out
// by someone else's guesses would try their right password again and
// again, or reset it, when only waiting helps.
const throttledLogin = "Too many sign-in attempts. Please wait a while and try again."

// failedLogin is the message of a login refused because the store failed
// (reason "error": its attempt could not be counted, the person could not
// be read; a full disk, a database down): 503, with Retry-After. Told
// their password was wrong, a person would try their right one again and
// again, or reset it, when only waiting helps. It tells no more than
// badLogin of whether the user exists: these reads and writes fail alike
// for every username.
const failedLogin = "Signing in failed for a reason of ours, not your password. Please try again in a moment."

// reasonError is the audit reason of a login refused because the store
// failed (failedLogin).
const reasonError = "error"

// passwordCheckWait is how long a login waits for a password check to come
// free before it is refused as busy: long enough to ride out a short burst
// (a check takes tens of milliseconds), short enough that a flood is
// answered rather than queued.
const passwordCheckWait = 2 * time.Second

// reasonBusy is the audit reason of a login refused for want of a free
// password check.
const reasonBusy = "busy"

// reasonThrottled is the audit reason of a login refused because its
// username or its address is past its limit (throttledLogin).
const reasonThrottled = "throttled"

const (
	maxUsername = 256
	maxPassword = 1024
)

func (p *Provider) handleLoginPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	d := pageData{Authz: q.Get("authz"), Next: p.safeNext(q.Get("next"))}
	if d.Authz != "" {
		if aq, err := url.ParseQuery(d.Authz); err == nil {
			d.Username = aq.Get("login_hint")
		}
	}
	p.loginForm(w, r, http.StatusOK, d)
}

// loginForm renders the form with a CSRF token, setting its cookie when the
// browser has none.
func (p *Provider) loginForm(w http.ResponseWriter, r *http.Request, status int, d pageData) {
	csrf := p.cookie(r, loginCSRF)
	if len(csrf) < 32 || len(csrf) > 100 {
		csrf = randomToken("")
		p.setCookie(w, loginCSRF, csrf, time.Hour)
	}
	d.Title, d.Action, d.CSRF = "Sign in", p.url(pathLogin), csrf
	// fresh: the request demanded a fresh sign-in (prompt=login,
	// max_age=0), which a federated sign-in asks of the upstream too.
	d.Fresh = r.FormValue("fresh") == "1"
	for _, c := range p.connections() {
		d.Links = append(d.Links, link{Label: c.label(), URL: p.url(pathLogin + "/" + c.Name)})
	}
	if d.Authz != "" {
		if aq, err := url.ParseQuery(d.Authz); err == nil {
			if c, err := p.client(r.Context(), aq.Get("client_id")); err == nil {
				// The ID stands in for a name that is empty or that the
				// page cannot show (renderPage).
				d.Client, d.ClientID, d.SelfRegistered = c.Name, c.ClientID, selfRegistered(c)
			}
		}
	}
	p.renderPage(w, r, status, "login", d)
}

func (p *Provider) handleLogin(w http.ResponseWriter, r *http.Request) {
	form, ferr := parseForm(w, r)
	if ferr != nil {
		p.errorPage(w, r, http.StatusBadRequest, ferr.Description)
		return
	}
	d := pageData{Authz: form.Get("authz"), Next: p.safeNext(form.Get("next")), Username: form.Get("username")}
	if d.Authz != "" {
		if _, err := url.ParseQuery(d.Authz); err != nil {
			p.errorPage(w, r, http.StatusBadRequest, "The request is malformed.")
			return
		}
	}
	if !equalSecret(p.cookie(r, loginCSRF), form.Get("csrf")) {
		d.Error = "The sign-in form expired. Please try again."
		p.loginForm(w, r, http.StatusForbidden, d)
		return
	}
	ctx := r.Context()
	ip := p.clientIP(r)
	user, reason, record := p.checkPassword(ctx, form.Get("username"), form.Get("password"), ip, p.knownDevice(r, form.Get("username")))
	if reason != "" {
		if record {
			p.loginFailed(ctx, p.recordedUsername(ctx, form.Get("username")), d.Authz, "", ip, reason)
		}
		d.Error = badLogin
		status := http.StatusOK
		switch reason {
		case reasonBusy:
			d.Error, status = busyLogin, http.StatusServiceUnavailable
			w.Header().Set("Retry-After", "1")
		case reasonError:
			d.Error, status = failedLogin, http.StatusServiceUnavailable
			w.Header().Set("Retry-After", "5")
		case reasonThrottled:
			// The counters are in fixed windows: the limit is lifted
			// within one window at the latest.
			d.Error, status = throttledLogin, http.StatusTooManyRequests
			w.Header().Set("Retry-After", strconv.Itoa(int((p.window()+time.Second-1)/time.Second)))
		}
		p.loginForm(w, r, status, d)
		return
	}
	if err := p.endPriorSession(ctx, w, r, ip); err != nil {
		p.log().ErrorContext(ctx, "login: end the prior session", "err", err)
		p.errorPage(w, r, http.StatusInternalServerError, "Signing in failed. Please try again.")
		return
	}
	s, secret, err := p.createSession(ctx, user.Username, "pwd", p.now())
	if err == nil {
		// The user is read again now that the session is stored: the
		// password was checked against the hash read before, and an
		// admin's new password, removal or disabling (with EndUser, which
		// deletes the person's sessions) may have committed since. The
		// session was committed before this read, so either EndUser comes
		// after it and deletes it, or this read (userNow, which waits for
		// a transaction changing the user) sees the change. Without it,
		// a session stored just after EndUser would survive the change
		// for its whole life, and a leaked password signing in in a loop
		// would almost surely straddle the change meant to end it.
		var now store.User
		if now, err = p.userNow(ctx, user.Username); err == nil || errors.Is(err, store.ErrNotFound) {
			if err != nil || now.Disabled || now.PasswordHash != user.PasswordHash || !now.CreatedAt.Equal(user.CreatedAt) {
				// The session's secret has not left the server: deleted,
				// it is gone, and not deleted, it is of no use to anyone.
				// The person sees the one message of every failed login.
				if derr := p.Store.Identity().DeleteSession(ctx, s.ID); derr != nil {
					p.log().WarnContext(ctx, "login: delete a refused session", "err", derr)
				}
				p.loginFailed(ctx, user.Username, d.Authz, s.ID, ip, reasonUserChanged)
				d.Error = badLogin
				p.loginForm(w, r, http.StatusOK, d)
				return
			}
		}
	}
	if err == nil {
		p.setSessionCookie(w, secret)
		p.setDevice(w, r, user)
		err = p.record(ctx, audit.Event{Type: audit.LoginSucceeded, Session: s.ID, Actor: user.Username,
			Status: "ok", RemoteAddr: addrString(ip), Detail: map[string]any{"method": "pwd"}})
		if err != nil {
			_ = p.endSession(ctx, w, s)
		}
	}
	if err != nil {
		p.log().ErrorContext(ctx, "login", "err", err)
		p.errorPage(w, r, http.StatusInternalServerError, "Signing in failed. Please try again.")
		return
	}
	p.setCookie(w, loginCSRF, "", -1)
	next := d.Next
	switch {
	case d.Authz != "":
		next = p.url(pathAuthorize) + "?" + d.Authz
	case next == "":
		next = p.path + pathSignedIn
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// reasonUserChanged is the audit reason of a sign-in whose password was
// right when checked, but whose user was changed (a new password), removed
// or disabled before its session was kept.
const reasonUserChanged = "user_changed"

// loginFailed records a refused sign-in in the audit trail: who it was
// for (actor: a user's name, never a name as typed that may be no one's —
// recordedUsername), the client of the authorization request it was to
// continue (authz), and the reason class, never a secret. A failure lets
// nothing through, so one the trail cannot take is only logged.
func (p *Provider) loginFailed(ctx context.Context, actor, authz, session string, ip netip.Addr, reason string) {
	ev := audit.Event{Type: audit.LoginFailed, Session: session, Actor: actor,
		Status: "refused", RemoteAddr: addrString(ip), Detail: map[string]any{"reason": reason}}
	if authz != "" {
		if aq, err := url.ParseQuery(authz); err == nil {
			ev.Agent = truncate(aq.Get("client_id"), 512)
		}
	}
	_ = p.record(ctx, ev)
}

// recordedUsername is what the trail keeps of a failed sign-in's username
// as typed: the name when it is a user's, else nothing. A person who types
// their password into the username field (the cursor in the wrong field,
// a username the browser filled in) sends a secret as the name; kept as
// given, it would sit in clear in every copy of the trail. A digest would
// not do: passwords are few enough to try them all against it. Nor would
// a clipped name, which keeps the start of the password. An unknown name
// costs the administrator little: the reason class (unknown_user), the
// address and the time still say that names are being tried, and from
// where. When the store cannot say whether the user exists, the name is
// left out too.
func (p *Provider) recordedUsername(ctx context.Context, username string) string {
	if username == "" || len(username) > maxUsername || !isText(username) {
		return ""
	}
	if _, err := p.Store.Users().Get(ctx, username); err != nil {
		return ""
	}
	return username
}

// endPriorSession ends the session r's cookie holds, if any, before a
// sign-in in the same browser starts a new one: whoever signed in before
// (another person, or the same one again at prompt=login) is signed out, so
// the grants that session gave without offline_access end now and not when
// it would have expired, and a later sign-out ends the only session the
// browser had. A failure refuses the sign-in rather than leave the old
// session and its grants alive.
func (p *Provider) endPriorSession(ctx context.Context, w http.ResponseWriter, r *http.Request, ip netip.Addr) error {
	old, ok := p.session(r)
	if !ok {
		return nil
	}
	if err := p.endSession(ctx, w, old); err != nil {
		return err
	}
	_ = p.record(ctx, audit.Event{Type: audit.Logout, Session: old.ID, Actor: old.Username, Status: "ok",
		RemoteAddr: addrString(ip), Detail: map[string]any{"reason": "signed_in_again"}})
	return nil
}

// handleSignedIn is where a person lands who signed in at the login page
// itself, with no application to continue to: it says who they are signed
// in as and offers to sign out. Without a session it is the login page.
func (p *Provider) handleSignedIn(w http.ResponseWriter, r *http.Request) {
	s, u, ok := p.sessionUser(r)
	if !ok {
		http.Redirect(w, r, p.path+pathLogin, http.StatusSeeOther)
		return
	}
	p.renderPage(w, r, http.StatusOK, "signedin", pageData{Title: "Signed in", Username: u.Username,
		Action: p.url(pathLogout), CSRF: s.CSRF})
}

// checkPassword counts the attempt, then checks it. reason is empty on
// success, else the failure class for the audit trail (never shown).
// record is false for a refusal the trail need not hold: once the user or
// the address is throttled, only the attempt that reached the limit is
// recorded, so that a flood of failures cannot grow the trail; and past
// its limit an address writes nothing (no counter for each username it
// tries). device is the browser's device cookie when it signed in as
// username before (knownDevice): while the person is still the one it
// signed in as, with the same password (deviceOf), its failures are
// counted against it, not against the username, whose lockout does not
// stop it (device.go).
func (p *Provider) checkPassword(ctx context.Context, username, pw string, ip netip.Addr, device deviceClaims) (store.User, string, bool) {
	id, now, win := p.Store.Identity(), p.now(), p.window()
	ipKey := "login:ip:" + throttleKey(ip)
	maxU, maxI := orDefault(p.MaxFailuresPerUser, 10), orDefault(p.MaxFailuresPerIP, 100)
	ni, err := id.Attempts(ctx, ipKey, now)
	if err != nil {
		p.log().ErrorContext(ctx, "read login attempts", "err", err)
		return store.User{}, reasonError, true
	}
	if ni >= maxI {
		// Refused without a look at the user. Only the attempt that goes
		// past the limit is counted, so that it alone is recorded.
		record := false
		if ni == maxI {
			n, err := id.CountAttempt(ctx, ipKey, now, win)
			record = err == nil && n == maxI+1
		}
		return store.User{}, reasonThrottled, record
	}
	if username == "" || len(username) > maxUsername || !isText(username) || len(pw) > maxPassword {
		// Counted against the address (no username to count), so that a
		// flood of these is throttled like any other.
		if n, err := id.CountAttempt(ctx, ipKey, now, win); err != nil {
			p.log().ErrorContext(ctx, "count login attempt", "err", err)
		} else if n > maxI {
			return store.User{}, reasonThrottled, n == maxI+1
		}
		return store.User{}, "malformed", true
	}
	// A right password is forgiven (below), so sign-ins that succeed are
	// bounded apart: each is an argon2id check, and a person signing in
	// over and over (one account is enough) would keep every CPU busy
	// and everyone else's sign-in answered busy.
	okKey, maxOK := signInsKey(username), orDefault(p.MaxSignInsPerUser, 30)
	if n, err := id.Attempts(ctx, okKey, now); err != nil {
		p.log().ErrorContext(ctx, "read sign-ins", "err", err)
		return store.User{}, reasonError, true
	} else if n >= maxOK {
		// As for failures: only the refusal that goes past the limit
		// is recorded (and counted, to know it was the first).
		record := false
		if n == maxOK {
			c, err := id.CountAttempt(ctx, okKey, now, win)
			record = err == nil && c == maxOK+1
		}
		return store.User{}, reasonThrottled, record
	}
	// Counted under the username as given, matched exactly as the user
	// is looked up: "Alice" and "alice" are two people, and one's sign-in
	// must not forgive the failures guessed at the other's password. A
	// device the person signed in on before counts its own (device.go).
	userKey := failuresKey(username)
	if device.ID != "" {
		// Read here, past the address's limit, so that a flood with a
		// cookie costs no more than one without.
		if u, err := p.Store.Users().Get(ctx, username); err == nil && deviceOf(device, u) != "" {
			userKey = "login:d:" + device.ID
		}
	}
	nu, err1 := id.CountAttempt(ctx, userKey, now, win)
	ni, err2 := id.CountAttempt(ctx, ipKey, now, win)
	if err := errors.Join(err1, err2); err != nil {
		p.log().ErrorContext(ctx, "count login attempt", "err", err)
		return store.User{}, reasonError, true
	}
	if nu > maxU || ni > maxI {
		return store.User{}, reasonThrottled, nu == maxU+1 || ni == maxI+1
	}
	u, err := p.Store.Users().Get(ctx, username)
	if err != nil || u.PasswordHash == "" {
		// As long as a real check, so that timing does not tell which
		// usernames exist (and as likely to find the checks busy).
		if _, verr := p.verifyPassword(ctx, pw, ""); errors.Is(verr, errPasswordChecksBusy) {
			return store.User{}, reasonBusy, true
		}
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			p.log().ErrorContext(ctx, "read user", "err", withoutName(err, username))
			return store.User{}, reasonError, true
		}
		if err != nil {
			return store.User{}, "unknown_user", true
		}
		return store.User{}, "no_password", true
	}
	ok, err := p.verifyPassword(ctx, pw, u.PasswordHash)
	if errors.Is(err, errPasswordChecksBusy) {
		return store.User{}, reasonBusy, true
	}
	if err != nil {
		p.log().ErrorContext(ctx, "user password hash unusable", "user", u.Username, "err", err)
		return store.User{}, "bad_hash", true
	}
	if !ok {
		return store.User{}, "bad_password", true
	}
	if u.Disabled {
		return store.User{}, "disabled", true
	}
	// Success: the user's failures are forgiven, and this attempt no
	// longer counts against the address.
	if err := errors.Join(id.ResetAttempts(ctx, userKey), id.ForgiveAttempt(ctx, ipKey)); err != nil {
		p.log().WarnContext(ctx, "reset login attempts", "err", err)
	}
	if _, err := id.CountAttempt(ctx, signInsKey(username), now, win); err != nil {
		p.log().WarnContext(ctx, "count sign-in", "err", err)
	}
	return p.rehash(ctx, u, pw), "", true
}

// rehash makes u's hash again with the provider's parameters when it was
// made with others (PasswordParams), now that pw is known to be right,
// and returns u as stored. It is best effort: with every password check
// busy, or the hash changed since it was read to one pw does not match (a
// new password), or a failed write, u is returned as it was and a later
// sign-in tries again. A hash changed to one pw matches (another sign-in
// made it again first) is the user as stored.
// The user's ImportedHash is kept: the new hash is of the same password,
// which the tenant file that imported the old one, applied again, must
// not take for a new one. So is the stamp the person's device cookies
// carry (userStamp): their other browsers stay known.
func (p *Provider) rehash(ctx context.Context, u store.User, pw string) store.User {
	params := p.passwordParams()
	if !password.NeedsRehash(u.PasswordHash, params) {
		return u
	}
	select {
	case p.pwChecks <- struct{}{}:
	default:
		return u
	}
	h, err := password.HashWith(pw, params)
	<-p.pwChecks
	if err != nil {
		p.log().WarnContext(ctx, "rehash password", "user", u.Username, "err", err)
		return u
	}
	var now store.User
	err = p.Store.Users().Update(ctx, u.Username, func(old store.User) (store.User, error) {
		now = old
		if old.PasswordHash != u.PasswordHash || !old.CreatedAt.Equal(u.CreatedAt) {
			return old, errHashChanged
		}
		old.DeviceStamp = keptStamp(old, h)
		old.PasswordHash = h
		now = old
		return old, nil
	})
	if errors.Is(err, errHashChanged) && now.CreatedAt.Equal(u.CreatedAt) {
		// Most likely another sign-in of the person's, at the same time,
		// made it again first: a hash of the same password, which pw is
		// checked against, so that this sign-in is not refused as one
		// that straddled a new password (handleLogin compares the hash).
		if ok, verr := p.verifyPassword(ctx, pw, now.PasswordHash); ok && verr == nil {
			return now
		}
		return u
	}
	if err != nil {
		if !errors.Is(err, errHashChanged) {
			p.log().WarnContext(ctx, "rehash password", "user", u.Username, "err", err)
		}
		return u
	}
	return now
}

// errHashChanged aborts a rehash whose user's hash changed since it was
// checked.
var errHashChanged = errors.New("password hash changed")

// failuresKey counts the failed sign-ins under a username as given: by
// its digest, not the name, because the name may be a password typed into
// the username field, which the counters' table (and its backups) would
// otherwise keep in clear for the window. The digest is not keyed: it
// keeps the secret from a glance, not from a reader of the database who
// tries likely passwords against it.
func failuresKey(username string) string { return "login:u:" + digest(username) }

// signInsKey counts a person's password sign-ins that succeeded in a
// window (MaxSignInsPerUser), under their exact username (see userKey).
func signInsKey(username string) string { return "login:ok:u:" + username }

// countUnlessPast is store.CountUnlessPast on the identity store's
// counters and the provider's clock: an address past a limit costs a
// read, not a write, as checkPassword keeps a flood of failed sign-ins
// from writing.
func (p *Provider) countUnlessPast(ctx context.Context, key string, limit int, window time.Duration) (int, error) {
	return store.CountUnlessPast(ctx, p.Store.Identity(), key, limit, p.now(), window)
}

// errPasswordChecksBusy: no password check came free within
// passwordCheckWait, or the request ended while waiting for one.
var errPasswordChecksBusy = errors.New("too many password checks at once")

// verifyPassword is password.Verify within the bound on password checks
// running at once (MaxPasswordChecks); an empty phc means the dummy hash,
// whose one-time making then counts within the bound too. It waits for a
// free check at most passwordCheckWait, and no longer than ctx, then gives
// up with errPasswordChecksBusy.
func (p *Provider) verifyPassword(ctx context.Context, pw, phc string) (bool, error) {
	select {
	case p.pwChecks <- struct{}{}:
	default:
		t := time.NewTimer(orDefault(p.pwWait, passwordCheckWait))
		defer t.Stop()
		select {
		case p.pwChecks <- struct{}{}:
		case <-ctx.Done():
			return false, errPasswordChecksBusy
		case <-t.C:
			return false, errPasswordChecksBusy
		}
	}
	defer func() { <-p.pwChecks }()
	if phc == "" {
		phc = p.dummyHash()
	}
	return password.Verify(pw, phc)
}

// throttleKey is the part of a client address that counters are kept by:
// an IPv4 address, or the /64 of an IPv6 address (one subscriber commonly
// holds a whole /64, so counting by /128 would let them change address at
// every attempt).
func throttleKey(a netip.Addr) string {
	a = a.Unmap()
	if a.Is6() {
		if p, err := a.WithZone("").Prefix(64); err == nil {
			return p.String()
		}
	}
	return addrString(a)
}

// safeNext keeps next only when it is a path on this server: not a URL,
// not protocol-relative, no backslashes browsers turn into slashes.
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") ||
		strings.ContainsAny(next, "\\\r\n\t") {
		return ""
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" {
		return ""
	}
	return next
}

// safeNext keeps next only when it is a path under the issuer's: another
// path of the host is another tenant's, or another application's, which a
// link to this tenant's sign-in must not send its person to. A dot
// segment, which browsers resolve (%2e%2e too) and http.Redirect cleans,
// could climb out of it, and is refused.
func (p *Provider) safeNext(next string) string {
	next = safeNext(next)
	if next == "" || p.path == "" {
		return next
	}
	raw, _, _ := strings.Cut(next, "?")
	raw, _, _ = strings.Cut(raw, "#")
	if !strings.HasPrefix(raw, p.path+"/") {
		return ""
	}
	for _, seg := range strings.Split(strings.ReplaceAll(strings.ToLower(raw), "%2e", "."), "/") {
		if seg == "." || seg == ".." {
			return ""
		}
	}
	return next
}

// withoutName is err's text with name taken out, for a log line about a
// sign-in whose username is as typed: the store's errors name the key
// they read, and a username that is no one's may be a password typed
// into the wrong field (recordedUsername).
func withoutName(err error, name string) string {
	msg := err.Error()
	if name == "" {
		return msg
	}
	msg = strings.ReplaceAll(msg, strconv.Quote(name), `"(the username)"`)
	return strings.ReplaceAll(msg, name, "(the username)")
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
