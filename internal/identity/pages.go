package identity

import (
	"bytes"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"unicode"

	"github.com/gatehouse/gatehouse/internal/store"
)

// Pages are plain HTML forms that work without JavaScript. Every value is
// escaped by html/template; no page embeds a secret other than the CSRF
// token of its own form.

const layout = `{{define "top"}}<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} · Gatehouse</title>
<style>
body{font:16px/1.5 system-ui,sans-serif;background:#f4f5f7;color:#1d2330;margin:0}
main{max-width:26rem;margin:4rem auto;background:#fff;border-radius:10px;padding:2rem;box-shadow:0 1px 4px #0002}
h1{font-size:1.3rem;margin-top:0}label{display:block;margin:.8rem 0 .2rem;font-weight:600}
input[type=text],input[type=password]{width:100%;box-sizing:border-box;padding:.55rem;border:1px solid #bbb;border-radius:6px;font:inherit}
button{margin-top:1.2rem;padding:.6rem 1.2rem;border:0;border-radius:6px;background:#2457c5;color:#fff;font:inherit;cursor:pointer}
button.secondary{background:#e3e6ec;color:#1d2330}.error{background:#fde8e8;color:#8a1c1c;padding:.6rem;border-radius:6px}
button.wide{display:block;width:100%;margin-top:.6rem}
ul{padding-left:1.2rem}code{background:#eef;padding:0 .2rem;border-radius:3px}
</style></head><body><main>{{end}}
{{define "bottom"}}</main></body></html>{{end}}`

var pages = template.Must(template.New("pages").Parse(layout + `
{{define "login"}}{{template "top" .}}
<h1>Sign in</h1>
{{if .Error}}<p class="error" role="alert">{{.Error}}</p>{{end}}
{{if .Client}}<p>to continue to <strong>{{.Client}}</strong>{{if .SelfRegistered}} (<code>{{.ClientID}}</code>){{end}}</p>
{{if .SelfRegistered}}<p>This app registered itself: its name is its own choice, not your organization's.</p>{{end}}{{end}}
<form method="post" action="{{.Action}}">
{{template "loginfields" .}}
<label for="username">Username</label>
<input type="text" id="username" name="username" value="{{.Username}}" autocomplete="username" autocapitalize="none" required autofocus>
<label for="password">Password</label>
<input type="password" id="password" name="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>
{{if .Links}}<p>or</p>{{range .Links}}<form method="post" action="{{.URL}}">
{{template "loginfields" $}}
<button type="submit" class="secondary wide">Sign in with {{.Label}}</button>
</form>{{end}}{{end}}
{{template "bottom"}}{{end}}

{{/* What every sign-in form (the password's, each connection's) carries back. */}}
{{define "loginfields"}}<input type="hidden" name="csrf" value="{{.CSRF}}">
{{if .Authz}}<input type="hidden" name="authz" value="{{.Authz}}">{{end}}
{{if .Next}}<input type="hidden" name="next" value="{{.Next}}">{{end}}
{{if .Fresh}}<input type="hidden" name="fresh" value="1">{{end}}{{end}}

{{define "consent"}}{{template "top" .}}
<h1>Allow access?</h1>
<p><strong>{{.Client}}</strong>{{if .ClientID}} (<code>{{.ClientID}}</code>){{end}} asks to act for you, <strong>{{.Username}}</strong>.</p>
{{if .SelfRegistered}}<p>This app registered itself: its name is its own choice, not your organization's.</p>{{end}}
{{if .SendsTo}}<p>If you allow, you will be sent to <strong>{{.SendsTo}}</strong>, with access for this app.</p>{{end}}
<p>It will be able to:</p>
<ul>{{range .Scopes}}<li>{{.}}</li>{{end}}</ul>
{{if .Resources}}<p>on: {{range .Resources}}<code>{{.}}</code> {{end}}</p>{{end}}
{{if .MCP}}<p>Every tool call it makes is still checked against your permissions and recorded.</p>{{end}}
<form method="post" action="{{.Action}}">
<input type="hidden" name="csrf" value="{{.CSRF}}">
<input type="hidden" name="authz" value="{{.Authz}}">
<button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny" class="secondary">Deny</button>
</form>
{{template "bottom"}}{{end}}

{{define "logout"}}{{template "top" .}}
<h1>Sign out?</h1>
<p>Sign out of Gatehouse{{if .Username}} as <strong>{{.Username}}</strong>{{end}}?</p>
<form method="post" action="{{.Action}}">
<input type="hidden" name="csrf" value="{{.CSRF}}">
{{range $k, $v := .Hidden}}<input type="hidden" name="{{$k}}" value="{{$v}}">{{end}}
<button type="submit">Sign out</button>
</form>
{{template "bottom"}}{{end}}

{{define "signedin"}}{{template "top" .}}
<h1>Signed in</h1>
<p>You are signed in to Gatehouse as <strong>{{.Username}}</strong>. You can close this window, or sign out.</p>
<form method="post" action="{{.Action}}">
<input type="hidden" name="csrf" value="{{.CSRF}}">
<button type="submit">Sign out</button>
</form>
{{template "bottom"}}{{end}}

{{define "message"}}{{template "top" .}}
<h1>{{.Title}}</h1>
<p{{if .Error}} class="error" role="alert"{{end}}>{{.Message}}</p>
{{if .SelfRegistered}}<p>This app registered itself: its name is its own choice, not your organization's.</p>{{end}}
{{template "bottom"}}{{end}}
`))

type pageData struct {
	Title, Error, Message string
	Action, CSRF          string
	Authz, Next           string
	Username              string
	Client, ClientID      string
	// SelfRegistered: the client registered itself (RFC 7591) or is a
	// metadata document's URL: its name proves nothing, so the login,
	// consent and refusal pages show its ID and say so.
	SelfRegistered bool
	// SendsTo is where the consent page of a self-registered client
	// says the browser goes once the person allows: its redirect URI's
	// host (or scheme, for an app's own scheme).
	SendsTo           string
	Scopes, Resources []string
	MCP               bool // the consent covers /mcp
	Fresh             bool // the login page: a fresh sign-in was demanded
	Hidden            map[string]string
	Links             []link
}

type link struct{ Label, URL string } // a federated sign-in: its label and its form's action

// renderPage writes a page with headers that keep it out of caches and
// frames (clickjacking a consent or login form).
func (p *Provider) renderPage(w http.ResponseWriter, r *http.Request, status int, name string, d pageData) {
	// Names registered before they were checked (store.CheckDisplayName),
	// and whatever a request carries into a message, lose the characters
	// that names may not hold: a right-to-left override would make the
	// page read other than what it says, a Hangul filler would show as
	// nothing. A client's name left blank by that gives way to its ID, so
	// that the page always says who asks.
	d.Client, d.ClientID, d.Username, d.Message = visible(d.Client), visible(d.ClientID), visible(d.Username), visible(d.Message)
	if d.Client == "" || store.CheckDisplayName(d.Client) != "" {
		d.Client = d.ClientID
	}
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, d); err != nil {
		p.log().ErrorContext(r.Context(), "render page", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	// No form-action: browsers apply it to the redirect after a POST, and
	// the consent form's answer redirects to the client.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// errorPage is where a request goes that cannot be answered by a redirect
// (unknown client, unregistered redirect URI): never to the URI given.
func (p *Provider) errorPage(w http.ResponseWriter, r *http.Request, status int, msg string) {
	p.renderPage(w, r, status, "message", pageData{Title: "Request refused", Error: "1", Message: msg})
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }

// visible drops from s the characters store.IsHiddenRune names, but for
// spaces other than U+0020, which become U+0020 so that words stay apart.
func visible(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case unicode.Is(unicode.Zs, r):
			return ' '
		case store.IsHiddenRune(r):
			return -1
		}
		return r
	}, s)
}
