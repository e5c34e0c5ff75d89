package identity

// What a person's consent covers, as the token exchange and the
// authorization endpoint read it. A consent records the scopes and the
// resources (token audiences) the person allowed a client; a consent
// recorded before resources were kept, or given to a request that named
// none, covers the MCP endpoint only — the resource the consent page
// showed for such a request.

import (
	"slices"

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
