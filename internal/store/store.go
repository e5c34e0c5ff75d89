package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Sentinel errors. Backends wrap them with %w; callers test with errors.Is.
var (
	// ErrNotFound is returned when the named record does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict is returned when a record with the same key already exists.
	ErrConflict = errors.New("already exists")
)

// AdminRole is built into every tenant: its members run the dashboard and
// the admin API. It cannot be removed.
const AdminRole = "admin"

// User is a person of the tenant.
type User struct {
	Username     string            `json:"username"`
	Email        string            `json:"email,omitempty"`
	PasswordHash string            `json:"password_hash,omitempty"` // argon2id PHC string; never a clear password
	Roles        []string          `json:"roles,omitempty"`         // sorted, unique
	Attributes   map[string]string `json:"attributes,omitempty"`    // usable in policy conditions
	Disabled     bool              `json:"disabled,omitempty"`
	CreatedAt    time.Time         `json:"-"`
	UpdatedAt    time.Time         `json:"-"`

	// ImportedHash is the SHA-256 (hex) of the password_hash a tenant file
	// gave, while PasswordHash is that hash or the one a sign-in made again
	// from it with the provider's parameters (the same password): applying
	// the file again keeps PasswordHash then. Whatever else sets
	// PasswordHash clears it; a sign-in's rehash keeps it.
	ImportedHash string `json:"imported_hash,omitempty"`

	// DeviceStamp keeps the stamp the person's device cookies carry
	// across a sign-in's rehash (the same password, hashed again with the
	// provider's parameters): the stamp, a space, and a digest of the
	// PasswordHash it stands for. It counts only while PasswordHash is
	// that one: whatever else sets PasswordHash makes it moot, with no
	// need to clear it (identity's userStamp).
	DeviceStamp string `json:"device_stamp,omitempty"`
}

// Role is a named set of permissions; tools are granted to roles.
type Role struct {
	Name        string    `json:"name"`
	Description string    `json:"description,omitempty"`
	BuiltIn     bool      `json:"built_in,omitempty"`
	CreatedAt   time.Time `json:"-"`
	UpdatedAt   time.Time `json:"-"`
}

// Client kinds.
const (
	KindAgent   = "agent"
	KindWeb     = "web"
	KindNative  = "native"
	KindService = "service"
)

// Client sources: where a client came from.
const (
	SourceTenant     = "tenant"     // the tenant file or the admin commands
	SourceRegistered = "registered" // RFC 7591 dynamic registration
	SourceMetadata   = "metadata"   // a client ID metadata document (URL client_id)
)

// Client is an app or an AI agent, managed like a user.
type Client struct {
	ClientID string `json:"client_id"`
	Name     string `json:"name,omitempty"`
	Kind     string `json:"kind"`
	// SecretHash is an argon2id PHC string for a secret a person chose
	// (tenant file, admin commands), or "$sha256$" and the base64url
	// SHA-256 of a 256-bit secret Gatehouse generated (registration);
	// empty for public clients.
	SecretHash             string   `json:"secret_hash,omitempty"`
	RedirectURIs           []string `json:"redirect_uris,omitempty"`
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris,omitempty"`
	Tools                  []string `json:"tools"` // the agent's cap; nil = no cap, empty = no tool at all
	FirstParty             bool     `json:"first_party,omitempty"`
	Source                 string   `json:"source,omitempty"`
	// GrantTypes are the OAuth grant types the client may use at the token
	// endpoint (RFC 7591 grant_types). Empty means the defaults of its
	// Kind (what tenant-file clients have always had): see
	// identity's grant checks.
	GrantTypes []string `json:"grant_types,omitempty"`
	// TokenEndpointAuthMethod is the one client authentication method a
	// registered client declared (client_secret_basic, client_secret_post
	// or none); empty accepts any that fits the client.
	TokenEndpointAuthMethod string `json:"token_endpoint_auth_method,omitempty"`
	// IDTokenSignedResponseAlg is the JWS algorithm of the client's ID
	// tokens (OpenID Connect Registration id_token_signed_response_alg):
	// one the key manager signs with. Empty means RS256, which OpenID
	// Connect requires every relying party to accept.
	IDTokenSignedResponseAlg string `json:"id_token_signed_response_alg,omitempty"`
	// Scopes are the scopes a registered client may be granted (RFC 7591
	// scope, narrowed to those the server offers); empty means no limit
	// beyond what the server offers (tenant clients, and clients that
	// registered no scope). Tool scopes are never in it and never limited
	// by it: see identity's registeredScopes.
	Scopes []string `json:"scopes,omitempty"`
	// Disabled clients get no tokens, and tokens already issued to them
	// are refused, as for a disabled user.
	Disabled  bool      `json:"disabled,omitempty"`
	CreatedAt time.Time `json:"-"`
	UpdatedAt time.Time `json:"-"`
}

// Confidential reports whether the client authenticates with a secret.
func (c Client) Confidential() bool { return c.SecretHash != "" }

// HTTPBackend describes a tool that is an HTTP API call.
type HTTPBackend struct {
	Method   string `json:"method"`
	URL      string `json:"url"`
	ClientID string `json:"client_id,omitempty"` // the service client the API introspects slips with
}

// Tool statuses.
const (
	ToolActive  = "active"
	ToolPending = "pending" // an imported definition changed upstream; withheld until approved
)

// Tool is one entry of the catalogue, which is also the permission
// catalogue: Roles are the roles granted the tool.
type Tool struct {
	Name         string          `json:"name"`
	Description  string          `json:"description,omitempty"`
	Builtin      string          `json:"builtin,omitempty"`
	Upstream     string          `json:"upstream,omitempty"`
	UpstreamTool string          `json:"upstream_tool,omitempty"`
	HTTP         *HTTPBackend    `json:"http,omitempty"`
	InputSchema  json.RawMessage `json:"input_schema,omitempty"`
	Roles        []string        `json:"roles,omitempty"` // sorted, unique
	When         string          `json:"when,omitempty"`  // Cedar condition
	Status       string          `json:"status,omitempty"`
	PinnedHash   string          `json:"pinned_hash,omitempty"` // SHA-256 of the approved upstream definition
	// PinnedDefinition is the approved upstream definition, as the
	// canonical JSON PinnedHash is the SHA-256 of; empty for a pin made
	// before definitions were kept.
	PinnedDefinition json.RawMessage `json:"pinned_definition,omitempty"`
	// PendingHash and PendingDefinition are the upstream definition that
	// awaits an admin's approval (a withheld change, or a tool imported
	// pending): what the admin reviews. Empty when nothing awaits.
	PendingHash       string          `json:"pending_hash,omitempty"`
	PendingDefinition json.RawMessage `json:"pending_definition,omitempty"`
	CreatedAt         time.Time       `json:"-"`
	UpdatedAt         time.Time       `json:"-"`
}

// Backend names the kind of backend the tool runs on.
func (t Tool) Backend() string {
	switch {
	case t.Builtin != "":
		return "builtin"
	case t.Upstream != "":
		return "upstream"
	case t.HTTP != nil:
		return "http"
	}
	return ""
}

// Upstream is an MCP server behind the gateway, over stdio or Streamable HTTP.
type Upstream struct {
	Name    string   `json:"name"`
	Command []string `json:"command,omitempty"`
	URL     string   `json:"url,omitempty"`
	// HeadersEnv: header name → the name of the environment variable
	// whose value the gateway sends in that header to a Streamable HTTP
	// upstream. Names only: the values (credentials) are never stored.
	HeadersEnv map[string]string `json:"headers_env,omitempty"`
	// Env names the variables of the gateway's environment a stdio
	// upstream gets besides the few every program needs (PATH, HOME,
	// locale…): names only, read when the process starts, never stored.
	Env []string `json:"env,omitempty"`
	// PerCaller runs a stdio upstream once per caller (a person through
	// an agent) besides the gateway's own process: what it logs or asks
	// during a call can then only be that caller's, and one person's
	// process never serves another. A Streamable HTTP upstream gives each
	// caller a session of its own in any case.
	PerCaller bool `json:"per_caller,omitempty"`
	// CallTimeout bounds one tools/call to the upstream: past it the call
	// is cancelled upstream, the caller told, and the trail records a
	// timeout. Zero means the gateway's default.
	CallTimeout time.Duration `json:"call_timeout,omitempty"`
	CreatedAt   time.Time     `json:"-"`
	UpdatedAt   time.Time     `json:"-"`
}

// SigningKey is one key pair. Private is sealed (encrypted) by the keys
// package before it reaches the store; the store never sees it in clear.
type SigningKey struct {
	ID      string `json:"kid"`
	Alg     string `json:"alg"`
	Private []byte `json:"private"` // sealed
	Public  []byte `json:"public"`  // public JWK, JSON
	// ActiveFrom is when the key starts signing; zero means from its
	// creation. A rotation publishes the new key before it signs (in the
	// JWKS from its creation, signing from ActiveFrom), so that relying
	// parties holding a cached JWKS know it before they meet it.
	ActiveFrom time.Time `json:"active_from,omitzero"`
	// RetiredAt is when the key stops signing (it may be ahead: a
	// rotation retires the current key when its successor activates);
	// zero while no successor is planned.
	RetiredAt time.Time `json:"retired_at"`
	ExpiresAt time.Time `json:"expires_at"` // zero while published; after it the key is gone from JWKS
	CreatedAt time.Time `json:"-"`
	UpdatedAt time.Time `json:"-"`
}

// Collection is a keyed set of records of one kind.
//
// Every method takes ctx and honours its cancellation. Implementations are
// safe for concurrent use.
type Collection[T any] interface {
	// Get returns the record with the key, or ErrNotFound.
	Get(ctx context.Context, key string) (T, error)
	// List returns every record, ordered by key.
	List(ctx context.Context) ([]T, error)
	// Create stores a new record; ErrConflict when the key is taken.
	Create(ctx context.Context, v T) error
	// Update reads the record, passes it to fn and stores what fn returns,
	// atomically. fn's error aborts the update and is returned as is;
	// ErrNotFound when there is no such record. The key cannot change.
	Update(ctx context.Context, key string, fn func(old T) (T, error)) error
	// Delete removes the record, or returns ErrNotFound.
	Delete(ctx context.Context, key string) error
}

// Tenant is everything a tenant is made of.
type Tenant interface {
	Users() Collection[User]
	Roles() Collection[Role]
	Clients() Collection[Client]
	Tools() Collection[Tool]
	Upstreams() Collection[Upstream]
	Keys() Collection[SigningKey]

	// Setting returns a tenant setting, or ErrNotFound (names such as
	// SettingToolCallsPerMinute).
	Setting(ctx context.Context, name string) (string, error)
	// SetSetting stores a tenant setting.
	SetSetting(ctx context.Context, name, value string) error
	// Revision is a counter that every change to the tenant's records bumps
	// (in the same transaction), so caches on any replica can tell when to
	// reload.
	Revision(ctx context.Context) (int64, error)
	// Lock, in a transaction (Store.InTx), waits until no other
	// transaction on the tenant's database, of any replica, holds the
	// tenant's lock, and holds it until the transaction ends: what is
	// read after it and written in the transaction is decided once for
	// every replica (the first signing keys). Every write of the tenant
	// waits for it too (it is the revision's lock). Outside a transaction
	// it returns an error.
	Lock(ctx context.Context) error

	// EndUser ends everything username holds at the identity provider:
	// their login sessions, unredeemed authorization codes and consents
	// are deleted, and every grant of their refresh tokens is revoked
	// (each until the later of until and the grant's last refresh token's
	// expiry: until should outlast the access tokens already issued). It
	// is here, not in Identity, so that removing or disabling a user and
	// ending what they hold are one transaction (InTx): since tokens name
	// the user by username, a later user of the same name would otherwise
	// inherit it all. It reports what it ended; a user with nothing is
	// no error.
	EndUser(ctx context.Context, username string, until time.Time) (UserEnded, error)
	// EndClient ends everything clientID was given at the identity
	// provider, for a client removed: its unredeemed authorization codes
	// and its consents are deleted, and every grant of its codes (redeemed
	// ones still stored too) and of its refresh tokens is revoked, as
	// EndUser revokes them; and the removal's time is kept until until
	// (Identity.ClientEndedAt), which should outlast the access tokens
	// already issued, so that none issued at or before it stands for a
	// client added again under the ID. Call it in the transaction that
	// deletes the client (InTx): a client of the same ID added again, also
	// within accesstoken.CreationMargin (a metadata client is stored again
	// on its next use), would otherwise inherit it all. It reports what it
	// ended; a client with nothing is no error.
	EndClient(ctx context.Context, clientID string, until time.Time) (ClientEnded, error)

	// UsersLinkedTo returns the users whose attribute idp_sub (the upstream
	// account a federation connection linked them to) is sub, by name,
	// through an index: a first sign-in looks for them under the tenant's
	// lock, which a reading of every user would hold for as long as that
	// takes.
	UsersLinkedTo(ctx context.Context, sub string) ([]User, error)

	// NamesEqualFold returns the names of the records of kind ("user",
	// "client", "tool", "role" or "upstream") that equal name but for
	// case (strings.EqualFold; name itself when a record has it), by
	// name, through an index of the names' folded forms: NameFree asks it
	// on every admin add and first federated sign-in, under the tenant's
	// lock, which a reading of every name would hold for as long as that
	// takes.
	NamesEqualFold(ctx context.Context, kind, name string) ([]string, error)

	// UnusedClients returns the IDs of up to limit clients that PruneClients
	// would remove (see there), oldest first, without changing anything or
	// taking any lock: a cheap look before a transaction that finds none
	// would be for nothing.
	UnusedClients(ctx context.Context, createdBefore time.Time, limit int) ([]string, error)
	// PruneClients removes up to limit clients, oldest first, that added
	// themselves (Source SourceRegistered or SourceMetadata), were created
	// before createdBefore and hold nothing at the identity provider: no
	// consent, no refresh token (kept until its grant ends) and no
	// authorization code (kept AuthCodeKept after it expires). A client of
	// the tenant file or the admin commands is never removed, nor one an
	// administrator disabled or capped to some tools: that decision stays
	// theirs. Each is removed as an administrator removes a client: its
	// record deleted and EndClient(clientID, until) in the same
	// transaction. The revision moves once when any was removed and not at
	// all otherwise. Outside a transaction it runs in one of its own; rows
	// another transaction is changing are skipped (left to a later call),
	// so that concurrent calls, on any replica, never remove the same
	// client twice. It returns the IDs removed, oldest first.
	PruneClients(ctx context.Context, createdBefore time.Time, limit int, until time.Time) ([]string, error)
}

// SettingToolCallsPerMinute is the setting bounding the tool calls one
// caller (a person through an agent) makes in a minute: a decimal count,
// "" or absent for no bound.
const SettingToolCallsPerMinute = "limits.tool_calls_per_minute"

// SettingToolCallsPerMinutePerPerson is the setting bounding the tool
// calls one person makes in a minute through all agents together: a
// decimal count, "" or absent for no bound.
const SettingToolCallsPerMinutePerPerson = "limits.tool_calls_per_minute_per_person"

// UserEnded counts what EndUser ended.
type UserEnded struct {
	Sessions int64 `json:"sessions"` // live login sessions deleted (expired ones go uncounted)
	Grants   int64 `json:"grants"`   // refresh-token grants revoked
	Consents int64 `json:"consents"` // consents deleted
}

// String reads "2 sessions, 1 grant, 0 consents".
func (e UserEnded) String() string {
	return count(e.Sessions, "session") + ", " + count(e.Grants, "grant") + ", " + count(e.Consents, "consent")
}

// ClientEnded counts what EndClient ended.
type ClientEnded struct {
	Grants   int64 `json:"grants"`   // grants (of codes and refresh tokens) revoked
	Consents int64 `json:"consents"` // consents deleted
}

// String reads "1 grant, 0 consents".
func (e ClientEnded) String() string {
	return count(e.Grants, "grant") + ", " + count(e.Consents, "consent")
}

func count(v int64, what string) string {
	if v == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", v, what)
}

// Store is a tenant store with transactions and health.
type Store interface {
	Tenant
	Consumer
	// InTx runs fn in one transaction: every change fn makes through tx is
	// kept when fn returns nil and none is when it returns an error (which
	// InTx returns as is). tx must not be used after fn returns.
	InTx(ctx context.Context, fn func(tx Tenant) error) error
	// Ping reports whether the database answers.
	Ping(ctx context.Context) error
	// Dialect names the backend: "sqlite" or "postgres".
	Dialect() string
	// Close releases the database.
	Close() error
}

// Consumer marks things used once (authorization codes, permission slips,
// refresh tokens). The decision is the database's, so it holds across
// replicas.
type Consumer interface {
	// Consume marks (kind, id) used and reports whether this call was the
	// first to do so. expires says when the marker may be forgotten: it
	// must be no earlier than the thing's own expiry.
	Consume(ctx context.Context, kind, id string, expires time.Time) (first bool, err error)
	// PurgeConsumed forgets markers that expired before now.
	PurgeConsumed(ctx context.Context, now time.Time) (int64, error)
}

// toolName is what MCP asks of tool names: letters, digits, '_', '-' and
// '.', 1 to 64 of them.
var toolName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// IsToolName reports whether name is a tool name: 1 to 64 letters, digits,
// '_', '-' or '.'. Tenant files, the CLI and the tools imported from
// upstreams all hold to it.
func IsToolName(name string) bool { return toolName.MatchString(name) }

// CheckDisplayName says what is wrong with name as a name people read on
// the identity provider's pages (a client's name on the login, consent and
// error pages), or "". An empty name passes: it is no name, and the pages
// show the client's ID instead.
//
// A name is UTF-8 made of letters, marks, numbers, punctuation, symbols
// and the ordinary space (U+0020), with the zero-width joiner and
// non-joiner that some scripts and emoji need; and it holds at least one
// letter, number, punctuation mark or symbol, so that it cannot show as
// blank. Everything else can make the page read other than what it says,
// and escaping HTML does nothing to it: control and format characters (a
// right-to-left override reorders the text around it), line and paragraph
// separators, Unicode's default-ignorable code points (which fonts draw as
// nothing: a name of Hangul fillers, U+3164, is a blank that passes for a
// letter), spaces other than U+0020, private-use characters (whose look
// the font decides) and unassigned code points.
func CheckDisplayName(name string) string {
	if !utf8.ValidString(name) {
		return "is not UTF-8"
	}
	shows := false
	for _, r := range name {
		if what := hiddenRune(r); what != "" {
			return fmt.Sprintf("holds %s %U", what, r)
		}
		shows = shows || unicode.In(r, unicode.L, unicode.N, unicode.P, unicode.S)
	}
	if name != "" && !shows {
		return "holds no letter, number, punctuation mark or symbol: it would show as blank"
	}
	return ""
}

// IsHiddenRune reports whether CheckDisplayName refuses r in a name:
// anything but a letter, mark, number, punctuation mark, symbol, the
// ordinary space and the zero-width joiner and non-joiner, and of those the
// default-ignorable code points too. The identity provider's pages drop
// such characters from names stored before they were refused.
func IsHiddenRune(r rune) bool { return hiddenRune(r) != "" }

// EscapeRunes returns s with each rune hidden reports written as a Go
// escape (\u00XX, \U000XXXXX), the rest as it is: for a view of text that
// must show what a terminal would draw as nothing.
func EscapeRunes(s string, hidden func(rune) bool) string {
	if !strings.ContainsFunc(s, hidden) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case !hidden(r):
			b.WriteRune(r)
		case r > 0xffff:
			fmt.Fprintf(&b, `\U%08x`, r)
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
	}
	return b.String()
}

// hiddenRune says what r is when CheckDisplayName refuses it, or "". The
// order of the cases decides the words of the message only.
func hiddenRune(r rune) string {
	switch {
	case r == ' ' || r == '\u200c' || r == '\u200d':
		// The zero-width non-joiner and joiner reorder nothing, and some
		// scripts and emoji need them.
		return ""
	case unicode.In(r, unicode.Cc, unicode.Cf):
		return "the control or format character"
	case unicode.In(r, unicode.Zl, unicode.Zp):
		return "the line or paragraph separator"
	case unicode.Is(defaultIgnorable, r):
		return "the invisible (default-ignorable) character"
	case unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S):
		return ""
	case unicode.Is(unicode.Zs, r):
		return "a space other than U+0020:"
	case unicode.Is(unicode.Co, r):
		return "the private-use character"
	case unicode.Is(unicode.Cs, r):
		return "the surrogate code point"
	default:
		return "the unassigned code point"
	}
}

// defaultIgnorable is Unicode's Default_Ignorable_Code_Point property
// (DerivedCoreProperties.txt), which the standard library does not offer:
// code points a renderer shows as nothing when it does not support them,
// and most of them always. Several are letters or marks by category (the
// Hangul fillers, the variation selectors, U+034F), so that the category
// checks alone let them through.
var defaultIgnorable = &unicode.RangeTable{
	R16: []unicode.Range16{
		{Lo: 0x00ad, Hi: 0x00ad, Stride: 1}, // SOFT HYPHEN
		{Lo: 0x034f, Hi: 0x034f, Stride: 1}, // COMBINING GRAPHEME JOINER
		{Lo: 0x061c, Hi: 0x061c, Stride: 1}, // ARABIC LETTER MARK
		{Lo: 0x115f, Hi: 0x1160, Stride: 1}, // HANGUL CHOSEONG and JUNGSEONG FILLER
		{Lo: 0x17b4, Hi: 0x17b5, Stride: 1}, // KHMER VOWEL INHERENT AQ and AA
		{Lo: 0x180b, Hi: 0x180f, Stride: 1}, // MONGOLIAN FREE VARIATION SELECTORS, VOWEL SEPARATOR
		{Lo: 0x200b, Hi: 0x200f, Stride: 1}, // ZERO WIDTH SPACE … RIGHT-TO-LEFT MARK
		{Lo: 0x202a, Hi: 0x202e, Stride: 1}, // bidirectional embeddings and overrides
		{Lo: 0x2060, Hi: 0x206f, Stride: 1}, // WORD JOINER, invisible operators, isolates, deprecated formats
		{Lo: 0x3164, Hi: 0x3164, Stride: 1}, // HANGUL FILLER
		{Lo: 0xfe00, Hi: 0xfe0f, Stride: 1}, // VARIATION SELECTORS 1-16
		{Lo: 0xfeff, Hi: 0xfeff, Stride: 1}, // ZERO WIDTH NO-BREAK SPACE
		{Lo: 0xffa0, Hi: 0xffa0, Stride: 1}, // HALFWIDTH HANGUL FILLER
		{Lo: 0xfff0, Hi: 0xfff8, Stride: 1}, // reserved
	},
	R32: []unicode.Range32{
		{Lo: 0x1bca0, Hi: 0x1bca3, Stride: 1}, // SHORTHAND FORMAT CONTROLS
		{Lo: 0x1d173, Hi: 0x1d17a, Stride: 1}, // MUSICAL SYMBOL BEGIN/END formats
		{Lo: 0xe0000, Hi: 0xe0fff, Stride: 1}, // tags, VARIATION SELECTORS 17-256, reserved
	},
	LatinOffset: 1,
}

// IsLoopbackHost reports whether host is localhost or a loopback address.
func IsLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// IsEnvName reports whether name is an environment variable name: a
// letter or '_', then letters, digits and '_'.
func IsEnvName(name string) bool {
	for i, r := range name {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return name != ""
}

// CheckUpstreamEnv says what is wrong with name as a variable newly
// configured for the gateway to read (an upstream's env or headers_env, a
// connection's client_secret_env), or "". It is the rule for what is
// written: the tenant file and the commands that add an upstream. What is
// already stored is read with CheckStoredUpstreamEnv, which takes the
// names accepted before this rule.
// Gatehouse's own settings (GATEHOUSE_…) may hold its secrets and are
// never passed on.
//
// A name is upper-case letters, digits and '_', as the environment's own
// conventions have it: a secret pasted where its variable's name belongs
// (sk_live_…, ghp_…) would otherwise pass for a name and be stored, and
// recorded in the audit trail, as one. The message never repeats what was
// given, for the same reason.
func CheckUpstreamEnv(name string) string {
	if name == "" {
		return "a variable name is required"
	}
	if strings.HasPrefix(strings.ToUpper(name), "GATEHOUSE_") {
		return "is one of Gatehouse's own settings, never passed on"
	}
	if !IsEnvName(name) || strings.ToUpper(name) != name {
		return "is not an environment variable name: upper-case letters, digits and _ (what was given is not repeated: it may be a secret)"
	}
	return ""
}

// CheckStoredUpstreamEnv says what is wrong with name, read from stored
// configuration, as a variable the gateway reads at run time, or "". It
// takes any name IsEnvName does, lower-case included: stores written
// before CheckUpstreamEnv asked for upper-case hold such names (https_proxy),
// and they keep working. Gatehouse's own settings are still refused. The
// message never repeats the name, nor may the caller's: a secret stored
// as a name would otherwise reach the log on every reconnect.
func CheckStoredUpstreamEnv(name string) string {
	if name == "" {
		return "a variable name is required"
	}
	if strings.HasPrefix(strings.ToUpper(name), "GATEHOUSE_") {
		return "is one of Gatehouse's own settings, never passed on"
	}
	if !IsEnvName(name) {
		return "is not an environment variable name (what is stored is not repeated: it may be a secret)"
	}
	return ""
}

// CheckUpstreamHeader says what is wrong with name as a header the gateway
// sets on its requests to an upstream (see Upstream.HeadersEnv), or "".
// Headers the transport or the MCP protocol own are refused.
func CheckUpstreamHeader(name string) string {
	if name == "" {
		return "a header name is required"
	}
	for _, r := range name {
		if r > 0x7e || r <= ' ' || strings.ContainsRune("\"(),/:;<=>?@[\\]{}", r) {
			return "is not a header name"
		}
	}
	switch strings.ToLower(name) {
	case "host", "content-length", "content-type", "accept", "connection", "transfer-encoding",
		"te", "upgrade", "trailer", "keep-alive", "proxy-connection", "mcp-session-id", "mcp-protocol-version", "last-event-id":
		return "is set by the gateway itself"
	}
	return ""
}
