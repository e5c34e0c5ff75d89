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
	ID        string    `json:"kid"`
	Alg       string    `json:"alg"`
	Private   []byte    `json:"private"`    // sealed
	Public    []byte    `json:"public"`     // public JWK, JSON
	RetiredAt time.Time `json:"retired_at"` // zero while the key signs
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

	// Setting returns a tenant setting, or ErrNotFound.
	Setting(ctx context.Context, name string) (string, error)
	// SetSetting stores a tenant setting.
	SetSetting(ctx context.Context, name, value string) error
	// Revision is a counter that every change to the tenant's records bumps
	// (in the same transaction), so caches on any replica can tell when to
	// reload.
	Revision(ctx context.Context) (int64, error)

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
}

// UserEnded counts what EndUser ended.
type UserEnded struct {
	Sessions int64 `json:"sessions"` // login sessions deleted
	Grants   int64 `json:"grants"`   // refresh-token grants revoked
	Consents int64 `json:"consents"` // consents deleted
}

// String reads "2 sessions, 1 grant, 0 consents".
func (e UserEnded) String() string {
	n := func(v int64, what string) string {
		if v == 1 {
			return "1 " + what
		}
		return fmt.Sprintf("%d %ss", v, what)
	}
	return n(e.Sessions, "session") + ", " + n(e.Grants, "grant") + ", " + n(e.Consents, "consent")
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
// error pages), or "": it must be UTF-8 without control or format
// characters. A right-to-left override (U+202E) and its kin would make the
// page read other than what it says; escaping HTML does nothing to them.
func CheckDisplayName(name string) string {
	if !utf8.ValidString(name) {
		return "is not UTF-8"
	}
	for _, r := range name {
		if IsHiddenRune(r) {
			return fmt.Sprintf("holds the control or format character %U", r)
		}
	}
	return ""
}

// IsHiddenRune reports whether r is a control or format character, or a
// line or paragraph separator: what CheckDisplayName refuses. The
// zero-width joiner and non-joiner pass: some scripts and emoji need them,
// and they reorder nothing.
func IsHiddenRune(r rune) bool {
	return r != '\u200c' && r != '\u200d' && unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp)
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

// CheckUpstreamEnv says what is wrong with name as a variable a stdio
// upstream gets from the gateway's environment (see Upstream.Env), or "".
// Gatehouse's own settings (GATEHOUSE_…) may hold its secrets and are
// never passed on.
func CheckUpstreamEnv(name string) string {
	if name == "" {
		return "a variable name is required"
	}
	if !IsEnvName(name) {
		return fmt.Sprintf("%q is not an environment variable name", name)
	}
	if strings.HasPrefix(strings.ToUpper(name), "GATEHOUSE_") {
		return "is one of Gatehouse's own settings, never passed on"
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
