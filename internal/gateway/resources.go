package gateway

// Prompts, resources and completions of upstream MCP servers.
//
// They are not in the permission catalogue, so the gateway ties them to
// it: a caller sees and uses an upstream's prompts and resources exactly
// when it may call at least one of that upstream's tools. A caller who may
// use none of an upstream's tools learns nothing of its prompts or
// resources, as for its tools.

import (
	"context"
	"slices"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// features are an upstream's prompts and resources as last listed.
type features struct {
	prompts   []*mcp.Prompt
	resources []*mcp.Resource
	templates []*mcp.ResourceTemplate
}

// refreshFeatures lists c's prompts and resources, when it has them.
func (u *upstreams) refreshFeatures(ctx context.Context, c *upConn) {
	c.mu.Lock()
	cs := c.session
	c.mu.Unlock()
	if cs == nil {
		return
	}
	var f features
	caps := cs.InitializeResult().Capabilities
	if caps != nil && caps.Prompts != nil {
		for p, err := range cs.Prompts(ctx, nil) {
			if err != nil {
				break
			}
			f.prompts = append(f.prompts, p)
		}
	}
	if caps != nil && caps.Resources != nil {
		for r, err := range cs.Resources(ctx, nil) {
			if err != nil {
				break
			}
			f.resources = append(f.resources, r)
		}
		for t, err := range cs.ResourceTemplates(ctx, nil) {
			if err != nil {
				break
			}
			f.templates = append(f.templates, t)
		}
	}
	c.mu.Lock()
	c.features = f
	c.mu.Unlock()
}

// permitted returns, sorted by name, the connected upstreams whose
// prompts and resources who may use.
func (g *Gateway) permitted(cat *catalogue, who *caller) []*upConn {
	names := map[string]bool{}
	for _, e := range cat.visible(who.principal, who.agent, who.scopes) {
		if e.tool.Upstream != "" {
			names[e.tool.Upstream] = true
		}
	}
	var out []*upConn
	for n := range names {
		if c := g.ups.conn(n); c != nil {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b *upConn) int { return strings.Compare(a.cfg.Name, b.cfg.Name) })
	return out
}

func (c *upConn) snapshot() (*mcp.ClientSession, features) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.session, c.features
}

var errNotFound = &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: "not found"}

// interceptFeatures answers the prompt, resource and completion methods;
// ok is false for any other method.
func (g *Gateway) interceptFeatures(ctx context.Context, method string, req mcp.Request) (res mcp.Result, ok bool, err error) {
	switch method {
	case "prompts/list", "prompts/get", "resources/list", "resources/templates/list", "resources/read", "completion/complete":
	default:
		return nil, false, nil
	}
	cat, who, err := g.who(ctx, req)
	if err != nil {
		return nil, true, err
	}
	ups := g.permitted(cat, who)
	switch r := req.(type) {
	case *mcp.ListPromptsRequest:
		out := &mcp.ListPromptsResult{Prompts: []*mcp.Prompt{}}
		seen := map[string]bool{}
		for _, c := range ups {
			_, f := c.snapshot()
			for _, p := range f.prompts {
				if !seen[p.Name] {
					seen[p.Name] = true
					out.Prompts = append(out.Prompts, p)
				}
			}
		}
		return out, true, nil
	case *mcp.GetPromptRequest:
		for _, c := range ups {
			cs, f := c.snapshot()
			if cs != nil && slices.ContainsFunc(f.prompts, func(p *mcp.Prompt) bool { return p.Name == r.Params.Name }) {
				res, err := cs.GetPrompt(ctx, r.Params)
				return res, true, err
			}
		}
		return nil, true, errNotFound
	case *mcp.ListResourcesRequest:
		out := &mcp.ListResourcesResult{Resources: []*mcp.Resource{}}
		seen := map[string]bool{}
		for _, c := range ups {
			_, f := c.snapshot()
			for _, x := range f.resources {
				if !seen[x.URI] {
					seen[x.URI] = true
					out.Resources = append(out.Resources, x)
				}
			}
		}
		return out, true, nil
	case *mcp.ListResourceTemplatesRequest:
		out := &mcp.ListResourceTemplatesResult{ResourceTemplates: []*mcp.ResourceTemplate{}}
		for _, c := range ups {
			_, f := c.snapshot()
			out.ResourceTemplates = append(out.ResourceTemplates, f.templates...)
		}
		return out, true, nil
	case *mcp.ReadResourceRequest:
		c := owner(ups, r.Params.URI)
		if c == nil {
			return nil, true, errNotFound
		}
		cs, _ := c.snapshot()
		res, err := cs.ReadResource(ctx, r.Params)
		return res, true, err
	case *mcp.CompleteRequest:
		ref := r.Params.Ref
		for _, c := range ups {
			cs, f := c.snapshot()
			if cs == nil || ref == nil {
				continue
			}
			if ref.Type == "ref/prompt" && slices.ContainsFunc(f.prompts, func(p *mcp.Prompt) bool { return p.Name == ref.Name }) ||
				ref.Type == "ref/resource" && slices.ContainsFunc(f.templates, func(t *mcp.ResourceTemplate) bool { return t.URITemplate == ref.URI }) {
				res, err := cs.Complete(ctx, r.Params)
				return res, true, err
			}
		}
		return &mcp.CompleteResult{Completion: mcp.CompletionResultDetails{Values: []string{}}}, true, nil
	}
	return nil, false, nil
}

// owner finds the upstream serving uri: one that lists it, else the first
// whose URI templates could produce it.
func owner(ups []*upConn, uri string) *upConn {
	for _, c := range ups {
		cs, f := c.snapshot()
		if cs != nil && slices.ContainsFunc(f.resources, func(r *mcp.Resource) bool { return r.URI == uri }) {
			return c
		}
	}
	for _, c := range ups {
		cs, f := c.snapshot()
		if cs != nil && slices.ContainsFunc(f.templates, func(t *mcp.ResourceTemplate) bool { return templateMatches(t.URITemplate, uri) }) {
			return c
		}
	}
	return nil
}

// templateMatches reports whether uri could come from the RFC 6570
// template: the literal text before its first expression is a prefix of
// uri.
func templateMatches(tmpl, uri string) bool {
	prefix, _, _ := strings.Cut(tmpl, "{")
	return prefix != "" && strings.HasPrefix(uri, prefix)
}

// subscribe forwards a resource subscription to the upstream serving the
// resource; the SDK keeps track of which sessions subscribed and
// resourceUpdated (from the upstream) reaches them.
func (g *Gateway) subscribe(ctx context.Context, req *mcp.SubscribeRequest) error {
	cat, who, err := g.who(ctx, req)
	if err != nil {
		return err
	}
	c := owner(g.permitted(cat, who), req.Params.URI)
	if c == nil {
		return errNotFound
	}
	cs, _ := c.snapshot()
	return cs.Subscribe(ctx, &mcp.SubscribeParams{URI: req.Params.URI})
}

// unsubscribe ends the session's subscription in the SDK; the upstream
// subscription stays, as other sessions may share it.
func (g *Gateway) unsubscribe(context.Context, *mcp.UnsubscribeRequest) error { return nil }
