package identity

// Tool scopes. A scope tool:<name> narrows an access token for the MCP
// resource to the tools its scope names; a token whose scope names no tool
// is not narrowed (the person's roles and the agent's cap decide alone).
// When a narrowed token calls a tool its person may call but its scope does
// not name, /mcp answers 403 insufficient_scope with the wider scope, and
// the client asks for it here (step-up authorization).
//
// Rules:
//   - tool:<name> is granted for a tool the catalogue has (ToolExists), in
//     a token whose audience is the MCP resource, and for no other
//     resource: it means nothing elsewhere.
//   - It is looked up only once the person (or, for client_credentials,
//     the client) is authenticated, so that an anonymous caller cannot
//     learn from the authorization endpoint which tools exist. A signed-in
//     person can learn whether a tool name exists; nothing else about it.
//   - Tool scopes are not listed in scopes_supported (RFC 8414 lets a
//     server leave supported scopes out; the list would show the catalogue
//     to anyone), nor accepted in dynamic registration metadata (which is
//     anonymous); the scope a client registers never limits them, since a
//     tool scope only narrows a token (registeredScopes).
//   - A request that asks for tool scopes and is granted none is refused
//     (invalid_scope): the token would name no tool, and so reach every
//     tool, which is wider than asked. Likewise a refresh or token exchange
//     that narrows a tool-scoped grant must keep at least one tool scope.

import (
	"context"
	"slices"
	"strings"
)

const toolScopePrefix = "tool:"

// maxToolScopes bounds the tool scopes one request may ask for, and so the
// catalogue lookups it causes.
const maxToolScopes = 64

func isToolScope(s string) bool {
	name, ok := strings.CutPrefix(s, toolScopePrefix)
	return ok && name != ""
}

// forMCP reports whether a token for the resources aud (none: the default,
// MCPResource) is for the MCP resource.
func (p *Provider) forMCP(aud []string) bool {
	return len(aud) == 0 || slices.Contains(aud, p.MCPResource)
}

// dynamicToolScope is a tool scope the provider does not know from its
// configuration: one to look up in the catalogue.
func (p *Provider) dynamicToolScope(s string) bool { return !p.scopeSet[s] && isToolScope(s) }

// requestable keeps, in order, the requested scopes the provider may grant
// for a token for aud: the ones it knows, and tool scopes when aud is the
// MCP resource. Tool scopes are not looked up yet (checkToolScopes does).
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

// checkToolScopes keeps the tool scopes among scopes that name a tool of the
// catalogue, and everything else as it is. Call it only for an
// authenticated person or client.
func (p *Provider) checkToolScopes(ctx context.Context, scopes []string) ([]string, *Error) {
	asked := 0
	for _, s := range scopes {
		if p.dynamicToolScope(s) {
			asked++
		}
	}
	if asked == 0 {
		return scopes, nil
	}
	if asked > maxToolScopes {
		return nil, errInvalidScope("at most %d tool scopes may be asked for at once", maxToolScopes)
	}
	var out []string
	granted := 0
	for _, s := range scopes {
		if !p.dynamicToolScope(s) {
			out = append(out, s)
			continue
		}
		ok := false
		if p.ToolExists != nil {
			var err error
			if ok, err = p.ToolExists(ctx, strings.TrimPrefix(s, toolScopePrefix)); err != nil {
				return nil, errServer(err)
			}
		}
		if ok {
			out = append(out, s)
			granted++
		}
	}
	if granted == 0 {
		return nil, errInvalidScope("the scope names no tool served here")
	}
	return out, nil
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
