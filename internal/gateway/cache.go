package gateway

// Cache scopes.
//
// The results of the four list methods and of resources/read carry
// cache-control fields (ttlMs, cacheScope). What the gateway lists, and
// what a caller may read, depends on the person and agent behind the
// token, so every such result says "private": a shared cache must never
// hand alice's tool list, or a resource she may read, to bob. An empty
// cacheScope is no answer: it means "public", and the protocol does not
// allow it on the wire.
//
// server/discover is the one result with these fields that stays public,
// as the SDK sets it: its protocol versions, capabilities and instructions
// are the same for every caller.
//
// The SDK applies setCacheable to the results it builds
// (ServerOptions.SetCacheable); intercept applies it to those the gateway
// builds or forwards itself, which the SDK never sees.

import (
	"context"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// cachePrivate is the cacheScope of a result only the caller's own client
// may cache.
const cachePrivate = "private"

// setCacheable decides the cache-control fields of a result: private,
// but for server/discover. The time-to-live is left as it is: 0 (stale at
// once) for the lists, whose changes list_changed announces, and the
// upstream's for a resource read.
func setCacheable(_ context.Context, req mcp.Request, c *mcp.Cacheable) {
	if _, ok := req.(*mcp.ServerRequest[*mcp.DiscoverParams]); ok {
		if c.CacheScope == "" {
			c.CacheScope = "public"
		}
		return
	}
	c.CacheScope = cachePrivate
}

// cacheableOf returns the cache-control fields of res; nil when it has
// none.
func cacheableOf(res mcp.Result) *mcp.Cacheable {
	switch r := res.(type) {
	case *mcp.ListToolsResult:
		if r != nil {
			return &r.Cacheable
		}
	case *mcp.ListPromptsResult:
		if r != nil {
			return &r.Cacheable
		}
	case *mcp.ListResourcesResult:
		if r != nil {
			return &r.Cacheable
		}
	case *mcp.ListResourceTemplatesResult:
		if r != nil {
			return &r.Cacheable
		}
	case *mcp.ReadResourceResult:
		if r != nil {
			return &r.Cacheable
		}
	case *mcp.DiscoverResult:
		if r != nil {
			return &r.Cacheable
		}
	}
	return nil
}
