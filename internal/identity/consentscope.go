package identity

// What a person's consent covers, as the token exchange and the
// authorization endpoint read it. A consent records the scopes and the
// resources (token audiences) the person allowed a client; a consent
// recorded before resources were kept, or given to a request that named
// none, covers the MCP endpoint only — the resource the consent page
// showed for such a request.

import (
	"slices"
	"time"

	"github.com/gatehouse/gatehouse/internal/identity/accesstoken"
	"github.com/gatehouse/gatehouse/internal/store"
)

// consentResources are the resources a consent covers.
func (p *Provider) consentResources(c store.Consent) []string {
	if len(c.Resources) == 0 {
		return []string{p.MCPResource}
	}
	return c.Resources
}

// requestResources are the resources an authorization request asks for:
// those it names, or the MCP endpoint.
func (p *Provider) requestResources(req *authzRequest) []string {
	if len(req.resources) == 0 {
		return []string{p.MCPResource}
	}
	return req.resources
}

// intersect keeps the elements of a that are in b, in a's order.
func intersect(a, b []string) []string {
	out := []string{}
	for _, x := range a {
		if slices.Contains(b, x) && !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

// mergeSorted is the sorted union of a and b, never nil.
func mergeSorted(a, b []string) []string {
	out := append(slices.Clone(a), b...)
	slices.Sort(out)
	out = slices.Compact(out)
	if out == nil {
		out = []string{}
	}
	return out
}

// Tool scopes in a consent read as in a token: naming no tool covers
// every tool the person may call, naming some covers those only. So they
// cannot be compared or merged as plain strings: "no tool scope" is the
// widest grant of all, not the narrowest.

// narrowsTools reports whether scopes name tools (and so only those).
func narrowsTools(scopes []string) bool { return slices.ContainsFunc(scopes, isToolScope) }

// coveredBy reports whether a grant of given covers a request for asked:
// every scope asked for that is not a tool scope is given, and the tools
// asked for are given, where a grant naming no tool gives every tool and
// a request naming no tool asks for every tool.
func coveredBy(asked, given []string) bool {
	for _, s := range asked {
		if !isToolScope(s) && !slices.Contains(given, s) {
			return false
		}
	}
	switch {
	case !narrowsTools(given):
		return true
	case !narrowsTools(asked):
		return false
	}
	return subset(asked, given)
}

// widestOf is what two grants together give: the union of their scopes,
// and every tool when either gives every tool.
func widestOf(a, b []string) []string {
	out := mergeSorted(a, b)
	if !narrowsTools(a) || !narrowsTools(b) {
		out = slices.DeleteFunc(out, isToolScope)
	}
	return out
}

// toolScopesOf returns the tool scopes among scopes.
func toolScopesOf(scopes []string) []string {
	return slices.DeleteFunc(slices.Clone(scopes), func(s string) bool { return !isToolScope(s) })
}

// narrowestOf is what both grants give (a token exchange is within the
// subject token and the consent): the scopes in both, and the tools in
// both, where one naming no tool leaves the other's. ok is false when
// both name tools but none in common: naming none would give every tool.
func narrowestOf(a, b []string) (out []string, ok bool) {
	for _, s := range a {
		if !isToolScope(s) && slices.Contains(b, s) && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	switch {
	case !narrowsTools(a):
		out = append(out, toolScopesOf(b)...)
	case !narrowsTools(b):
		out = append(out, toolScopesOf(a)...)
	default:
		common := intersect(toolScopesOf(a), b)
		if len(common) == 0 {
			return nil, false
		}
		out = append(out, common...)
	}
	if out == nil {
		out = []string{}
	}
	return out, true
}

// since reports whether what happened at t (a grant, a consent, a token)
// was for client c as it is now: not for an earlier client of the same ID,
// removed since and created again. That holds for a client known by its
// metadata document too: removing it ends what it was given, though its
// record is created again, from the document, on its next use (client).
// Within accesstoken.CreationMargin of the removal it cannot tell; what the
// removed client was given ended with it then (store.Tenant.EndClient), and
// its access tokens are refused by the removal's time (clientStands).
func since(c store.Client, t time.Time) bool {
	return c.CreatedAt.IsZero() || !t.Before(c.CreatedAt.Add(-accesstoken.CreationMargin))
}

// mergeDests is the sorted union of a consent's destinations (consentDest),
// nil when both are empty (a tenant's client).
func mergeDests(a, b []string) []string {
	if len(a)+len(b) == 0 {
		return nil
	}
	return mergeSorted(a, b)
}
