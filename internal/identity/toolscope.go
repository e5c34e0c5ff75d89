package identity

// Tool scopes. A scope tool:<name> narrows an access token for the MCP
// resource to the tools its scope names; a token whose scope names no tool
// is not narrowed (the person's roles and the agent's cap decide alone).
// When a narrowed token calls a tool its person may call but its scope does
// not name, /mcp answers 403 insufficient_scope with the wider scope, and
// the client asks for it here (step-up authorization).
//
// Rules:
//   - The answer never depends on the catalogue: a caller learns nothing
//     here of the tools it may not call, neither their names nor their
//     number. tool:<name> with a well-formed name (store.IsToolName) is
//     granted as asked, whether the tenant has the tool and whether the
//     person (or client) may call it; a malformed one refuses the request
//     (invalid_scope) by its spelling alone. Granting a name the person
//     cannot call gives nothing: a tool scope only narrows a token, and
//     the gateway's policy still decides every call.
//   - It is granted in a token whose audience is the MCP resource, and for
//     no other resource: it means nothing elsewhere.
//   - Tool scopes are not listed in scopes_supported (RFC 8414 lets a
//     server leave supported scopes out; the list would show the catalogue
//     to anyone), nor accepted in dynamic registration metadata (which is
//     anonymous); the scope a client registers never limits them, since a
//     tool scope only narrows a token (registeredScopes).
//   - A request's tool scopes are all granted or the request is refused:
//     a token that names no tool reaches every tool, which is wider than
//     asked. Likewise a refresh or token exchange that narrows a
//     tool-scoped grant must keep at least one tool scope.

import (
	"slices"
	"strings"

	"github.com/gatehouse/gatehouse/internal/store"
)

const toolScopePrefix = "tool:"

// maxToolScopes bounds the tool scopes one request may ask for, and so the
// size of the token and of the consent it leads to.
const maxToolScopes = 64

// isToolScope reports whether s is in the tool scopes' namespace, whether
// or not it names a tool well (checkToolScopes refuses those that do not).
func isToolScope(s string) bool { return strings.HasPrefix(s, toolScopePrefix) }

// forMCP reports whether a token for the resources aud (none: the default,
// MCPResource) is for the MCP resource.
func (p *Provider) forMCP(aud []string) bool {
	return len(aud) == 0 || slices.Contains(aud, p.MCPResource)
}

// dynamicToolScope is a tool scope the provider does not know from its
// configuration: one that checkToolScopes checks.
func (p *Provider) dynamicToolScope(s string) bool { return !p.scopeSet[s] && isToolScope(s) }

// requestable keeps, in order, the requested scopes the provider may grant
// for a token for aud: the ones it knows, and tool scopes when aud is the
// MCP resource. Tool scopes are not checked yet (checkToolScopes does).
func (p *Provider) requestable(req, aud []string) []string {
	mcp := p.forMCP(aud)
	var out []string
	for _, s := range req {
		if p.scopeSet[s] || mcp && isToolScope(s) {
			out = append(out, s)
		}
	}
	return out
}

// checkToolScopes refuses scopes whose tool scopes are too many or name a
// tool badly. It looks nothing up: what it answers depends only on the
// request, never on the catalogue, so it may be called before anyone is
// authenticated.
func (p *Provider) checkToolScopes(scopes []string) *Error {
	asked := 0
	for _, s := range scopes {
		if !p.dynamicToolScope(s) {
			continue
		}
		if !store.IsToolName(strings.TrimPrefix(s, toolScopePrefix)) {
			return errInvalidScope("a tool scope is tool: followed by a tool name, 1 to 64 letters, digits, '_', '-' or '.'")
		}
		asked++
	}
	if asked > maxToolScopes {
		return errInvalidScope("at most %d tool scopes may be asked for at once", maxToolScopes)
	}
	return nil
}

// keepsToolScopes reports whether asked, a narrowing of granted, keeps the
// token narrowed to tools when granted is: a token naming no tool would
// reach every tool.
func keepsToolScopes(asked, granted []string) bool {
	return !slices.ContainsFunc(granted, isToolScope) || slices.ContainsFunc(asked, isToolScope)
}

// scopesFor drops the tool scopes from the scopes of a token that is not
// for the MCP resource.
func (p *Provider) scopesFor(scopes, aud []string) []string {
	if p.forMCP(aud) || !slices.ContainsFunc(scopes, p.dynamicToolScope) {
		return scopes
	}
	return slices.DeleteFunc(slices.Clone(scopes), p.dynamicToolScope)
}
