package config

import (
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode"

	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/password"
	"github.com/gatehouse/gatehouse/internal/policy"
	"github.com/gatehouse/gatehouse/internal/store"
	backends "github.com/gatehouse/gatehouse/internal/tools"
)

var (
	nameRe     = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)
	usernameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$`)
	clientIDRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`)

	connectionRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
)

// msgSecretLineBreak refuses a password or secret holding a line break,
// which nobody types at a sign-in or sends in a header: a YAML block
// (`secret: |`) keeps its last line feed in the value, and the client or
// person could then never authenticate, with no word of why.
const msgSecretLineBreak = "holds a line break (a | or > block keeps its last one: write the value on the key's line, or use |- )"

// federatedAttributes are the attributes a federated sign-in gives the
// person it makes (identity's attrIdP and the rest). A person of the file
// given one would pass for such a person: to a condition that reads it,
// and to apply --prune, which never removes one (applier.users).
var federatedAttributes = []string{"idp", "idp_sub", "idp_iss", "idp_roles"}

// minSecretLen is the shortest client secret a tenant file (or client add)
// may give. A secret is checked with argon2id and each client's failures
// are throttled in the store, so guessing one online takes years even at
// this length; the tenant file format (DESIGN.md) shows a 20-character
// secret, which applies. The message still asks for 32 random bytes.
const minSecretLen = 16

// msgBadHash refuses a password_hash or secret_hash that cannot be
// checked: one that only starts like an argon2id hash (cut short when it
// was copied) would lock the person or client out without a word. The
// hash is not repeated.
const msgBadHash = "must be an argon2id hash ($argon2id$v=19$m=…,t=…,p=…$salt$hash) with usable parameters"

// MinSecretLen is minSecretLen, for the CLI's client add.
const MinSecretLen = minSecretLen

// GrantedRoles are the roles the file's tools are granted to that its
// roles: does not declare (nor are built in), sorted: apply creates them,
// without a description. Names a role may not have are left out (the
// tool's grant is an error).
func (f *File) GrantedRoles() []string {
	declared := map[string]bool{store.AdminRole: true}
	for _, r := range f.Roles {
		declared[r.Name] = true
	}
	var out []string
	for _, t := range f.Tools {
		for _, r := range t.Roles {
			if !declared[r] && nameRe.MatchString(r) {
				declared[r] = true
				out = append(out, r)
			}
		}
	}
	sort.Strings(out)
	return out
}

// Validate reports every problem of the file at once. builtins names the
// built-in tools the binary ships.
func (f *File) Validate(builtins []string) error {
	v := validator{f: f}
	if f.Tenant == "" {
		v.add("tenant", "is required")
	} else if !nameRe.MatchString(f.Tenant) {
		v.add("tenant", "must be lower-case letters, digits, '.', '_' or '-'")
	}

	roles := map[string]bool{store.AdminRole: true}
	seen := map[string]int{}
	for i, r := range f.Roles {
		p := fmt.Sprintf("roles[%d]", i)
		if v.name(seen, p+".name", "role", r.Name, nameRe.MatchString, "must be lower-case letters, digits, '.', '_' or '-'") {
			roles[r.Name] = true
		}
	}
	// A role a tool is granted to is a role, declared under roles: or not
	// (apply creates it, GrantedRoles): granting a tool to a role no one
	// holds yet gives no one anything. A person's or a connection's role
	// must be one of these, so a misspelt one is still an error.
	for _, r := range f.GrantedRoles() {
		roles[r] = true
	}
	checkRoles := func(p string, rs []string) {
		for j, r := range rs {
			if !roles[r] {
				v.add(fmt.Sprintf("%s[%d]", p, j), fmt.Sprintf("unknown role %s", quoted(r)))
			}
		}
	}

	seen = map[string]int{}
	for i, u := range f.Users {
		p := fmt.Sprintf("users[%d]", i)
		v.name(seen, p+".username", "user", u.Username, usernameRe.MatchString, "letters, digits and . _ @ + - only")
		if u.Email != "" {
			if msg := CheckEmail(u.Email); msg != "" {
				v.add(p+".email", msg)
			}
		}
		if u.Password != "" && u.PasswordHash != "" {
			v.add(p+".password", "give password or password_hash, not both")
		}
		if strings.ContainsAny(u.Password, "\r\n") {
			v.add(p+".password", msgSecretLineBreak)
		}
		if u.PasswordHash != "" {
			v.hash(p+".password_hash", fmt.Sprintf("user %s", quoted(u.Username)), "password", u.PasswordHash)
		}
		checkRoles(p+".roles", u.Roles)
		for _, k := range sortedKeys(u.Attributes) {
			if slices.Contains(federatedAttributes, k) {
				v.add(p+".attributes."+k, "is set by a federated sign-in, not a tenant file")
			}
			if k == "roles" {
				// principal.roles is always the person's roles: an
				// attribute of that name would be ignored without a word.
				v.add(p+".attributes.roles", "is the person's roles (principal.roles): give them as roles:, not as an attribute")
			}
		}
	}

	usernames := seen
	seen = map[string]int{}
	clients := map[string]Client{}
	for i, c := range f.Clients {
		p := fmt.Sprintf("clients[%d]", i)
		if v.name(seen, p+".client_id", "client", c.ClientID, clientIDRe.MatchString, "letters, digits and . _ : - only") {
			clients[c.ClientID] = c
			if l, ok := usernames[strings.ToLower(c.ClientID)]; ok {
				but := ""
				if v.spelt["user\x00"+strings.ToLower(c.ClientID)] != c.ClientID {
					but = " but for case"
				}
				v.add(p+".client_id", fmt.Sprintf("%q is also a user (line %d)%s: a person and a client cannot share a name", c.ClientID, l, but))
			}
		}
		if msg := checkLabel(c.Name); msg != "" {
			v.add(p+".name", msg)
		}
		switch c.Kind {
		case store.KindAgent, store.KindWeb, store.KindService:
		case store.KindNative:
			if c.Secret != "" || c.SecretHash != "" {
				v.add(p+".secret", "a native client cannot keep a secret: remove it")
			}
		case "":
			v.add(p+".kind", "is required (agent, web, native or service)")
		default:
			v.add(p+".kind", fmt.Sprintf("%s: must be agent, web, native or service", quoted(c.Kind)))
		}
		if a := c.IDTokenSignedResponseAlg; a != "" {
			switch {
			case !slices.Contains(keys.Algs, a):
				v.add(p+".id_token_signed_response_alg", fmt.Sprintf("%s: must be one of %s", quoted(a), strings.Join(keys.Algs, ", ")))
			case c.Kind == store.KindService:
				v.add(p+".id_token_signed_response_alg", "a service client gets no ID tokens: remove it")
			}
		}
		if c.Kind == store.KindService && c.Secret == "" && c.SecretHash == "" {
			v.add(p+".secret", "a service client needs a secret")
		}
		if c.Secret != "" && c.SecretHash != "" {
			v.add(p+".secret", "give secret or secret_hash, not both")
		}
		if strings.ContainsAny(c.Secret, "\r\n") {
			v.add(p+".secret", msgSecretLineBreak)
		}
		if c.Secret != "" && len(c.Secret) < minSecretLen {
			v.add(p+".secret", fmt.Sprintf("must be at least %d characters (better, generate one: e.g. 32 random bytes base64url)", minSecretLen))
		}
		if c.SecretHash != "" {
			v.hash(p+".secret_hash", fmt.Sprintf("client %s", quoted(c.ClientID)), "secret", c.SecretHash)
		}
		for j, u := range c.RedirectURIs {
			if msg := CheckRedirectURI(u); msg != "" {
				v.add(fmt.Sprintf("%s.redirect_uris[%d]", p, j), msg)
			}
		}
		for j, u := range c.PostLogoutRedirectURIs {
			if msg := CheckRedirectURI(u); msg != "" {
				v.add(fmt.Sprintf("%s.post_logout_redirect_uris[%d]", p, j), msg)
			}
		}
	}

	seen = map[string]int{}
	upstreams := map[string]bool{}
	for i, u := range f.Upstreams {
		p := fmt.Sprintf("upstreams[%d]", i)
		if v.name(seen, p+".name", "upstream", u.Name, nameRe.MatchString, "must be lower-case letters, digits, '.', '_' or '-'") {
			upstreams[u.Name] = true
		}
		switch {
		case len(u.Command) > 0 && u.URL != "":
			v.add(p, "give command or url, not both")
		case len(u.Command) == 0 && u.URL == "":
			v.add(p, "needs a command (stdio) or a url (Streamable HTTP)")
		case u.URL != "":
			if msg := CheckHTTPURL(u.URL); msg != "" {
				v.add(p+".url", msg)
			} else if PlainHTTP(u.URL) && !u.AllowPlainHTTP {
				v.add(p+".url", fmt.Sprintf("upstream %s: %s", u.Name, PlainHTTPRefusal(u.URL, UpstreamCarries, "set allow_plain_http: true on the upstream")))
			}
		case u.Command[0] == "":
			v.add(p+".command[0]", "the program is empty")
		}
		if len(u.Env) > 0 && u.URL != "" {
			v.add(p+".env", "only goes with command (a Streamable HTTP upstream gets headers_env)")
		}
		for j, name := range u.Env {
			if msg := store.CheckUpstreamEnv(name); msg != "" {
				v.add(fmt.Sprintf("%s.env[%d]", p, j), msg)
			}
		}
		if _, err := ParseCallTimeout(u.CallTimeout); err != nil {
			v.add(p+".call_timeout", err.Error())
		}
		if u.PerCaller && u.URL != "" {
			v.add(p+".per_caller", "only goes with command (a Streamable HTTP upstream gives each caller a session of its own already)")
		}
		if u.AllowPlainHTTP && u.URL == "" {
			v.add(p+".allow_plain_http", "only goes with url")
		}
		if len(u.HeadersEnv) > 0 && u.URL == "" {
			v.add(p+".headers_env", "only goes with url (a stdio upstream gets the server's environment)")
		}
		headers := map[string]string{} // lower-case name → as first written
		for _, h := range sortedKeys(u.HeadersEnv) {
			if first, ok := headers[strings.ToLower(h)]; ok {
				// One header: which variable's value went out would be
				// left to chance.
				v.add(p+".headers_env."+h, fmt.Sprintf("is the header %s again (header names ignore case)", quoted(first)))
				continue
			}
			if headerToken(h) {
				headers[strings.ToLower(h)] = h
			}
			if msg := store.CheckUpstreamHeader(h); msg != "" {
				if h != "" && !headerToken(h) {
					// Not a header name: maybe a credential pasted where the
					// name belongs ("Authorization: Bearer …"). Its line
					// says where; the message does not repeat it.
					v.addAt(p+".headers_env."+h, p+".headers_env", msg+" (what was given is not repeated: it may be a secret)")
					continue
				}
				v.add(p+".headers_env."+h, msg)
			}
			if msg := store.CheckUpstreamEnv(u.HeadersEnv[h]); msg != "" {
				v.add(p+".headers_env."+h, msg)
			}
		}
	}

	seen = map[string]int{}
	tools := map[string]bool{}
	for i, t := range f.Tools {
		p := fmt.Sprintf("tools[%d]", i)
		if v.name(seen, p+".name", "tool", t.Name, store.IsToolName, "1–64 letters, digits, '_', '-' or '.'") {
			tools[t.Name] = true
		}
		n := 0
		if t.Builtin != "" {
			n++
			if !slices.Contains(builtins, t.Builtin) {
				v.add(p+".builtin", fmt.Sprintf("unknown built-in tool %s (this binary has: %s)", quoted(t.Builtin), strings.Join(builtins, ", ")))
			}
		}
		if t.Upstream != "" {
			n++
			if !upstreams[t.Upstream] {
				v.add(p+".upstream", fmt.Sprintf("unknown upstream %s", quoted(t.Upstream)))
			}
		} else if t.UpstreamTool != "" {
			v.add(p+".upstream_tool", "only goes with upstream")
		}
		if t.HTTP != nil {
			n++
			if msg := CheckHTTPMethod(t.HTTP.Method); msg != "" {
				v.add(p+".http.method", msg)
			}
			if msg := CheckHTTPURL(t.HTTP.URL); msg != "" {
				v.add(p+".http.url", msg)
			} else if PlainHTTP(t.HTTP.URL) && !t.HTTP.AllowPlainHTTP {
				v.add(p+".http.url", fmt.Sprintf("tool %s: %s", t.Name, PlainHTTPRefusal(t.HTTP.URL, ToolCarries, "set allow_plain_http: true in the tool's http")))
			}
			if t.HTTP.ClientID != "" {
				if c, ok := clients[t.HTTP.ClientID]; !ok {
					v.add(p+".http.client_id", fmt.Sprintf("unknown client %s", quoted(t.HTTP.ClientID)))
				} else if c.Kind != store.KindService {
					v.add(p+".http.client_id", fmt.Sprintf("client %q must be of kind service to introspect slips", t.HTTP.ClientID))
				}
			}
		}
		if n != 1 {
			v.add(p, "needs exactly one of builtin, upstream or http")
		}
		if t.InputSchema != nil {
			if msg := CheckInputSchema(t.InputSchema); msg != "" {
				v.add(p+".input_schema", msg)
			}
		}
		checkRoles(p+".roles", t.Roles)
		if strings.TrimSpace(t.When) != "" {
			if _, err := policy.Compile([]policy.Rule{{Tool: t.Name, Roles: t.Roles, When: t.When}}); err != nil {
				v.add(p+".when", err.Error())
			}
		}
	}
	// An agent's cap may only name tools of the catalogue.
	for i, c := range f.Clients {
		if c.Tools == nil {
			continue
		}
		for j, name := range *c.Tools {
			if !tools[name] {
				v.add(fmt.Sprintf("clients[%d].tools[%d]", i, j), fmt.Sprintf("unknown tool %s", quoted(name)))
			}
		}
	}
	seen = map[string]int{}
	for i, c := range f.Connections {
		p := fmt.Sprintf("connections[%d]", i)
		v.name(seen, p+".name", "connection", c.Name, connectionRe.MatchString, "letters, digits, '-' and '_' only")
		if msg := checkLabel(c.DisplayName); msg != "" {
			v.add(p+".display_name", msg)
		}
		if u, err := url.Parse(c.Issuer); err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && store.IsLoopbackHost(u.Hostname()))) {
			v.add(p+".issuer", fmt.Sprintf("%s: must be an https URL (http only to a loopback address)", quoted(shownURL(c.Issuer))))
		} else if u.User != nil || u.RawQuery != "" || u.ForceQuery || strings.Contains(c.Issuer, "#") {
			// An issuer has no query or fragment (OpenID Connect
			// Discovery §3), and no user or password, which every
			// discovery error would repeat in the log.
			v.add(p+".issuer", fmt.Sprintf("%s: must have no user, password, query or fragment", quoted(shownURL(c.Issuer))))
		}
		if c.ClientID == "" {
			v.add(p+".client_id", "is required")
		}
		if c.ClientSecretEnv != "" {
			if msg := store.CheckUpstreamEnv(c.ClientSecretEnv); msg != "" {
				v.add(p+".client_secret_env", msg)
			}
		}
		checkRoles(p+".default_roles", c.DefaultRoles)
		for _, k := range sortedKeys(c.RoleMap) {
			checkRoles(p+".role_map."+k, c.RoleMap[k])
		}
		if len(c.RoleMap) > 0 && c.RolesClaim == "" {
			v.add(p+".roles_claim", "role_map needs roles_claim (the upstream claim holding groups or roles)")
		}
	}
	if f.Audit != nil && f.Audit.Retention != "" {
		if _, err := parseRetention(f.Audit.Retention); err != nil {
			v.add("audit.retention", err.Error())
		}
	}
	if f.Limits != nil {
		if n := f.Limits.ToolCallsPerMinute; n < 0 || n > MaxToolCallsPerMinute {
			v.add("limits.tool_calls_per_minute", fmt.Sprintf("want 0 (no bound) to %d", MaxToolCallsPerMinute))
		}
		if n := f.Limits.ToolCallsPerMinutePerPerson; n < 0 || n > MaxToolCallsPerMinute {
			v.add("limits.tool_calls_per_minute_per_person", fmt.Sprintf("want 0 (no bound) to %d", MaxToolCallsPerMinute))
		}
	}
	v.probs.addAll(f.emptySecrets())
	if len(v.probs) > 0 {
		v.probs.sortByLine()
		return v.probs
	}
	return nil
}

// emptySecrets reports each password, password_hash, secret or
// secret_hash the file gives without a value: the key with nothing after
// it, null or an empty string. Apply reads a secret left out as "keep the
// stored one": an empty one must not pass for that silently. A File built
// in Go rather than parsed has no record of the keys it gave; there an
// empty secret is one left out.
func (f *File) emptySecrets() Problems {
	var ps Problems
	given := func(path, value string) {
		if _, ok := f.lines[path]; ok && value == "" {
			ps.add(Problem{File: f.name, Line: f.line(path), Path: path,
				Msg: "is empty: give one, or leave the key out (a stored one is then kept)"})
		}
	}
	for i, u := range f.Users {
		given(fmt.Sprintf("users[%d].password", i), u.Password)
		given(fmt.Sprintf("users[%d].password_hash", i), u.PasswordHash)
	}
	for i, c := range f.Clients {
		given(fmt.Sprintf("clients[%d].secret", i), c.Secret)
		given(fmt.Sprintf("clients[%d].secret_hash", i), c.SecretHash)
	}
	return ps
}

type validator struct {
	f     *File
	probs Problems
	spelt map[string]string // what+"\x00"+lower-cased name → the name as first written (dup)
}

func (v *validator) add(path, msg string) {
	v.probs.add(Problem{File: v.f.name, Line: v.f.line(path), Path: path, Msg: msg})
}

// hash checks a given password_hash or secret_hash. One above the ceiling
// of what a sign-in checks is named apart, with who it is for and the
// ceiling (never the hash): its person, or client, needs a new secret.
func (v *validator) hash(path, who, secret, h string) {
	_, err := password.ParseParams(h)
	switch {
	case errors.Is(err, password.ErrTooCostly):
		v.add(path, fmt.Sprintf("%s: argon2id parameters cost more than a sign-in checks "+
			"(at most m=%d KiB (%d MiB) and m×t=%d KiB): give a %s to hash instead",
			who, password.MaxMemory, password.MaxMemory/1024, password.MaxWork, secret))
	case err != nil:
		v.add(path, msgBadHash)
	}
}

// addAt is add for a problem shown at path but found on linePath's line:
// for a key that must not be repeated.
func (v *validator) addAt(linePath, path, msg string) {
	v.probs.add(Problem{File: v.f.name, Line: v.f.line(linePath), Path: path, Msg: msg})
}

// headerToken reports whether h is made of the characters a header name
// may hold (RFC 9110 token characters).
func headerToken(h string) bool {
	for _, r := range h {
		if r > 0x7e || r <= ' ' || strings.ContainsRune("\"(),/:;<=>?@[\\]{}", r) {
			return false
		}
	}
	return true
}

// name checks an entry's name at path: given, of the shape valid accepts
// (else "%q: " and shape), and not the name of an earlier entry (seen
// holds those, with their lines). It reports whether the name is well
// formed, repeated or not, so that the caller can record it.
func (v *validator) name(seen map[string]int, path, what, name string, valid func(string) bool, shape string) bool {
	switch {
	case name == "":
		v.add(path, "is required")
	case !valid(name):
		v.add(path, fmt.Sprintf("%s: %s", quoted(name), shape))
	default:
		v.dup(seen, name, path, what)
		return true
	}
	return false
}

// dup refuses name when an earlier entry of its kind has it, or has it but
// for case: "alice" and "Alice" would be two principals (two tools, two
// connections) that the CLI's lists, the audit trail and an agent's tool
// list show as one name, told apart only by the case of a letter. seen is
// keyed by the lower-cased name (names are ASCII), v.spelt keeps how the
// first was written.
func (v *validator) dup(seen map[string]int, name, path, what string) {
	key := strings.ToLower(name)
	if l, ok := seen[key]; ok {
		if first := v.spelt[what+"\x00"+key]; first != name {
			v.add(path, fmt.Sprintf("%s %q differs from %q (line %d) only in case: rename one (names differing only in case read as one name)", what, name, first, l))
			return
		}
		v.add(path, fmt.Sprintf("%s %q is defined twice (first on line %d)", what, name, l))
		return
	}
	seen[key] = v.f.line(path)
	if v.spelt == nil {
		v.spelt = map[string]string{}
	}
	v.spelt[what+"\x00"+key] = name
}

// maxLabel bounds a name shown on the identity provider's pages, as
// dynamic registration bounds a client_name.
const maxLabel = 200

// checkLabel says what is wrong with s as a name shown on the identity
// provider's pages (a client's name, a connection's display_name), or "":
// what store.CheckDisplayName refuses, and more than maxLabel bytes.
func checkLabel(s string) string {
	if len(s) > maxLabel {
		return fmt.Sprintf("is longer than %d bytes", maxLabel)
	}
	return store.CheckDisplayName(s)
}

// CheckRedirectURI returns why u cannot be a redirect URI, or "". Redirects
// must be absolute, carry no fragment, and use https unless they go to a
// loopback address (or are a native app's private scheme).
func CheckRedirectURI(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.Scheme == "" {
		return fmt.Sprintf("%s is not an absolute URL", quoted(shownURL(u)))
	}
	if p.Fragment != "" || strings.Contains(u, "#") {
		return fmt.Sprintf("%s: a redirect URI cannot have a fragment", quoted(shownURL(u)))
	}
	switch p.Scheme {
	case "https":
		if p.Host == "" {
			return fmt.Sprintf("%s has no host", quoted(shownURL(u)))
		}
	case "http":
		if !store.IsLoopbackHost(p.Hostname()) {
			return fmt.Sprintf("%s: plain http is only allowed to a loopback address", quoted(shownURL(u)))
		}
	case "javascript", "data", "file", "vbscript":
		return fmt.Sprintf("%s: scheme %s is not allowed", quoted(shownURL(u)), p.Scheme)
	default:
		// A native app's private-use scheme (RFC 8252 7.1) must be
		// reverse-DNS shaped.
		if !strings.Contains(p.Scheme, ".") {
			return fmt.Sprintf("%s: a private-use scheme must be reverse-DNS shaped (com.example.app)", quoted(shownURL(u)))
		}
	}
	return ""
}

// maxEmailLen is the longest e-mail address (RFC 5321 4.5.3.1.3 bounds a
// path, which holds one, to 256 octets with its angle brackets).
const maxEmailLen = 254

// CheckEmail returns why e is not an e-mail address, or "": it must be an
// RFC 5322 addr-spec alone, as OpenID Connect's email claim is, of at most
// 254 bytes, without a character that shows as nothing or reorders the
// text around it. The address is read in ID tokens, userinfo and the
// CLI's lists: "eve\u202emoc.evila@acme.example" reads there as another
// address. A long one is not repeated.
func CheckEmail(e string) string {
	if len(e) > maxEmailLen {
		return fmt.Sprintf("is longer than %d bytes, the most an e-mail address may be", maxEmailLen)
	}
	for _, r := range e {
		if store.IsHiddenRune(r) || !unicode.IsPrint(r) {
			return fmt.Sprintf("%q holds an invisible or control character %U", e, r)
		}
	}
	if a, err := mail.ParseAddress(e); err != nil || a.Address != e {
		return fmt.Sprintf("%q is not an e-mail address", e)
	}
	return ""
}

// CheckInputSchema returns why s cannot be a tool's input schema, or "":
// it must be an object schema the gateway can check arguments against.
// One it cannot, it would withhold the tool for: said now, not found out
// by the person the tool is granted to.
func CheckInputSchema(s map[string]any) string {
	if ty, _ := s["type"].(string); ty != "object" {
		return `must be a JSON Schema with type: object`
	}
	if _, err := backends.CompileSchema(s); err != nil {
		return "cannot check arguments: " + err.Error()
	}
	return ""
}

// CheckHTTPMethod returns why method cannot be an HTTP API tool's, or "".
func CheckHTTPMethod(method string) string {
	switch strings.ToUpper(method) {
	case "GET", "POST", "PUT", "PATCH", "DELETE":
		return ""
	}
	return fmt.Sprintf("%s: must be GET, POST, PUT, PATCH or DELETE", quoted(method))
}

// CheckHTTPURL returns why u cannot be an upstream's or an HTTP API
// tool's URL, or "": it must be http(s), with a host and no credentials.
func CheckHTTPURL(u string) string {
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		return fmt.Sprintf("%s is not an http(s) URL", quoted(shownURL(u)))
	}
	if p.User != nil {
		return fmt.Sprintf("%s: credentials do not belong in the URL", quoted(shownURL(u)))
	}
	return ""
}

// PlainHTTP reports whether u, a URL CheckHTTPURL takes, is plain http to a
// host other than this machine (a loopback host). What the gateway sends
// there, a permission slip or its own credentials, crosses the network in
// clear text, so it is taken only where the entry says so.
func PlainHTTP(u string) bool {
	p, err := url.Parse(u)
	return err == nil && p.Scheme == "http" && !store.IsLoopbackHost(p.Hostname())
}

// What the gateway sends to an HTTP API tool and to a Streamable HTTP
// upstream, as PlainHTTPRefusal says it.
const (
	ToolCarries     = "the call's permission slip"
	UpstreamCarries = "the calls and the gateway's credentials for it"
)

// PlainHTTPRefusal says why u (PlainHTTP) is refused, what would cross
// the network in clear (carried) and how to accept it anyway (optIn: the
// setting or the flag).
func PlainHTTPRefusal(u, carried, optIn string) string {
	return fmt.Sprintf("%s is plain http to a host other than this machine: %s would cross the network in clear text; use https, or %s to accept that",
		quoted(shownURL(u)), carried, optIn)
}

// shownURL is u as a message shows it: without its userinfo, query and
// fragment, which may carry a password or a token ("…" marks where one
// was). A URL that does not parse is cut as its text reads, erring towards
// hiding more.
func shownURL(u string) string {
	if p, err := url.Parse(u); err == nil {
		var tail string
		if p.RawQuery != "" || p.ForceQuery {
			tail = "?…"
		}
		if strings.Contains(u, "#") {
			tail += "#…"
		}
		p.RawQuery, p.ForceQuery, p.Fragment, p.RawFragment = "", false, "", ""
		if p.User != nil {
			p.User = url.User("x") // shown as "…@" below
		}
		// An '@' may be left in an opaque part ("user:password@host"
		// reads as a scheme and an opaque part) or a path.
		return dropUserinfo(p.String()) + tail
	}
	s := dropUserinfo(u)
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		s = s[:i+1] + "…"
	}
	return s
}

// dropUserinfo replaces what may be userinfo in s, anything after the
// scheme's "://" up to the last '@', with "…@".
func dropUserinfo(s string) string {
	start := 0
	if i := strings.Index(s, "://"); i >= 0 {
		start = i + 3
	}
	if i := strings.LastIndex(s, "@"); i >= start {
		return s[:start] + "…@" + s[i+1:]
	}
	return s
}

// CheckName returns why name is not a valid name of its kind ("username",
// "role", "client", "tool", "upstream"), or "": what was given, and what a
// name of that kind may hold, so that the admin can fix it.
func CheckName(kind, name string) string {
	type rule struct {
		valid       func(string) bool
		label, what string
	}
	const lower = "lower-case letters, digits, '.', '_' or '-', starting with a letter or digit, at most 63"
	r, ok := map[string]rule{
		"username": {usernameRe.MatchString, "username", "letters, digits, '.', '_', '@', '+' or '-', starting with a letter or digit, at most 128"},
		"role":     {nameRe.MatchString, "role name", lower},
		"client":   {clientIDRe.MatchString, "client ID", "letters, digits, '.', '_', ':' or '-', starting with a letter or digit, at most 128"},
		"tool":     {store.IsToolName, "tool name", "letters, digits, '_', '-' or '.', at most 64"},
		"upstream": {nameRe.MatchString, "upstream name", lower},
	}[kind]
	switch {
	case !ok:
		return "unknown kind of name " + kind
	case name == "":
		return r.label + " is empty"
	case !r.valid(name):
		return fmt.Sprintf("%s is not a valid %s: %s", quoted(name), r.label, r.what)
	}
	return ""
}

// Bounds of an upstream's call_timeout.
const (
	MinCallTimeout = time.Second
	MaxCallTimeout = 24 * time.Hour
)

// ParseCallTimeout reads an upstream's call_timeout: a Go duration between
// MinCallTimeout and MaxCallTimeout; "" is zero (the gateway's default).
func ParseCallTimeout(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%s is not a duration (say 90s, 10m or 1h)", quoted(s))
	}
	if d < MinCallTimeout || d > MaxCallTimeout {
		return 0, fmt.Errorf("%v is out of bounds: between %v and %v", d, MinCallTimeout, MaxCallTimeout)
	}
	return d, nil
}
