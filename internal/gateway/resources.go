package gateway

// Prompts, resources and completions of upstream MCP servers.
//
// They are not in the permission catalogue, so the gateway ties them to
// it: a caller sees and uses an upstream's prompts and resources exactly
// when it may call at least one of that upstream's tools. A caller who may
// use none of an upstream's tools learns nothing of its prompts or
// resources, as for its tools.
//
// Every use is audited as a tool call is. A request that returns or grants
// upstream content (prompts/get, resources/read, resources/subscribe,
// completion/complete) gets a feature.decision (allow or deny, policy
// upstream-features, with reasons), durable before anything is forwarded,
// and after an allow a feature.result; both carry the same correlation ID,
// person, agent, session and token ID. Lists get one features.list, as
// tools/list gets tools.list. The trail names the prompt, the resource URI
// or the completion's reference and argument name, and keeps arguments as a
// digest; never content. These requests are bounded as tool calls are:
// while one runs it holds one of the caller's call slots (callslots.go).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/clip"
	"github.com/gatehouse/gatehouse/internal/identity/accesstoken"
	"github.com/gatehouse/gatehouse/internal/slip"
	"github.com/gatehouse/gatehouse/slipverify"
)

// PolicyUpstreamFeatures is the policy name of decisions on an upstream's
// prompts, resources and completions: allowed when the caller may call
// one of the upstream's tools.
const PolicyUpstreamFeatures = "upstream-features"

// features are an upstream's prompts and resources as last listed.
type features struct {
	prompts   []*mcp.Prompt
	resources []*mcp.Resource
	templates []*mcp.ResourceTemplate
	// defs are the prompts' and templates' definitions, to be checked
	// against their pins (featurepins.go).
	defs map[string]pinnedDef
}

// refreshFeatures lists c's prompts and resources, when it has them, pins
// or withholds its prompts and templates (pinFeatures), and tells the
// sessions whose prompt or resource list that changed (featuresChanged).
func (u *upstreams) refreshFeatures(ctx context.Context, c *upConn) {
	// One listing at a time per upstream, so that an older listing is
	// never kept over a newer one.
	c.featuresMu.Lock()
	defer c.featuresMu.Unlock()
	c.mu.Lock()
	cs := c.session
	c.mu.Unlock()
	if cs == nil {
		return
	}
	var f features
	// A listing that fails keeps what the upstream last listed of its
	// kind, as a disconnected upstream still counts as serving what it
	// last listed (servedBy): else another upstream whose names or
	// templates it shares would take what is meant for it until its next
	// listing. What it kept is checked against the pins as before.
	c.mu.Lock()
	last := c.features
	c.mu.Unlock()
	caps := cs.InitializeResult().Capabilities
	// The listing, and then the pinning, each within listTimeout; ctx,
	// the upstream session's, is what the retries of a failed pinning
	// last as long as (a listing's bound would end them after one).
	lctx, cancel := context.WithTimeout(ctx, listTimeout)
	defer cancel()
	log := u.g.logger().With("upstream", c.cfg.Name)
	if caps != nil && caps.Prompts != nil {
		f.prompts = listed(log, "prompts", cs.Prompts(lctx, nil), last.prompts)
	}
	if caps != nil && caps.Resources != nil {
		f.resources = listed(log, "resources", cs.Resources(lctx, nil), last.resources)
		f.templates = listed(log, "resource templates", cs.ResourceTemplates(lctx, nil), last.templates)
	}
	cancel()
	f.defs = featureDefs(f)
	c.mu.Lock()
	c.features = f
	c.mu.Unlock()
	pctx, cancel := context.WithTimeout(ctx, listTimeout)
	defer cancel()
	wrote, err := u.g.pinFeatures(pctx, c.cfg.Name, f.defs)
	switch {
	case err != nil:
		// What is not approved stays withheld; tried again by a later
		// listing.
		if ctx.Err() == nil {
			log.Warn("gateway: pin upstream prompts and templates; what is not approved is withheld", "err", err)
			u.retryFeatures(ctx, c)
		}
	case wrote:
		// The new pins reach this replica's catalogue (and its sessions'
		// lists) with the reload, other replicas' with the revision.
		if err := u.g.Reload(pctx); err != nil && ctx.Err() == nil {
			log.Warn("gateway: reload after pinning upstream prompts and templates", "err", err)
		}
	}
	u.g.featuresChanged()
}

// featuresRetry is how long after a failed pinning an upstream's prompts
// and templates are listed and pinned again.
var featuresRetry = 5 * time.Second

// retryFeatures lists c's prompts and resources again after featuresRetry,
// unless ctx (the upstream's session) ends first.
func (u *upstreams) retryFeatures(ctx context.Context, c *upConn) {
	go func() {
		t := time.NewTimer(featuresRetry)
		defer t.Stop()
		select {
		case <-ctx.Done():
		case <-t.C:
			c.featuresRelist.request(nil, func() { u.refreshFeatures(ctx, c) })
		}
	}()
}

// permitted returns, sorted by name, the connected upstreams whose
// prompts and resources who may use.
func (g *Gateway) permitted(cat *catalogue, who *caller) []*upConn {
	return g.upstreamsOf(cat.visible(who.principal, who.agent, who.scopes))
}

// upstreamsOf returns, sorted by name, the connected upstreams of the
// tools visible.
func (g *Gateway) upstreamsOf(visible []*entry) []*upConn {
	names := map[string]bool{}
	for _, e := range visible {
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

// listed gathers what seq yields, at most
// maxListed items and maxToolListed bytes of them (the rest left out, with
// a warning), each item at most maxToolDefBytes (a larger one left out):
// the bounds of a tool listing, so that an upstream's prompts and
// resources can no more fill the gateway's memory, nor every caller's
// list, than its tools can. A listing that fails (an error of the
// upstream's, a timeout) returns last, what was listed before, whole: a
// part of a listing would drop what the rest held.
func listed[T any](log *slog.Logger, what string, seq iter.Seq2[T, error], last []T) []T {
	var out []T
	size, tooLarge := 0, 0
	for x, err := range seq {
		if err != nil {
			// Not its error: a transport's quotes the upstream's URL.
			log.Warn("gateway: the upstream's listing of its " + what + " failed; what it listed before is kept")
			return last
		}
		if len(out) == maxListed {
			log.Warn("gateway: the upstream lists more "+what+" than the gateway takes; the rest are left out", "taken", maxListed)
			break
		}
		b, err := json.Marshal(x)
		if err != nil || len(b) > maxToolDefBytes {
			tooLarge++
			continue
		}
		if size += len(b); size > maxToolListed {
			log.Warn("gateway: the upstream's "+what+" are larger than the gateway takes; the rest are left out",
				"taken", len(out), "max_bytes", maxToolListed)
			break
		}
		out = append(out, x)
	}
	if tooLarge > 0 {
		log.Warn("gateway: the upstream lists "+what+" larger than the gateway takes; they are left out",
			"left_out", tooLarge, "max_bytes_each", maxToolDefBytes)
	}
	return out
}

// promptsOf is what prompts/list shows a caller who may use ups: their
// prompts, but for a name that more than one of them serves (uniqueOf)
// and one withheld (cat.servable).
func promptsOf(cat *catalogue, ups []*upConn) []*mcp.Prompt {
	return uniqueOf(ups, func(f features) []*mcp.Prompt { return f.prompts }, func(p *mcp.Prompt) string { return p.Name },
		func(c *upConn, f features, name string) bool {
			return cat.servable(c, f, featureKey(FeaturePrompt, name))
		})
}

// resourcesOf is what resources/list shows a caller who may use ups: their
// resources, but for a URI that more than one of them serves.
func resourcesOf(ups []*upConn) []*mcp.Resource {
	return uniqueOf(ups, func(f features) []*mcp.Resource { return f.resources }, func(r *mcp.Resource) string { return r.URI }, nil)
}

// uniqueOf gathers the items of ups in order, leaving out every item whose
// key another upstream serves too, and those shown (when not nil) says
// not to show. A key served twice is ambiguous: whichever upstream got
// it, the caller's arguments or reads meant for one could go to the
// other, so an upstream that copies another's prompt names or resource
// URIs gets nothing but their withdrawal (as tools of the same name are
// refused); a withheld item still counts as its upstream's. Never nil: an
// empty list is listed as [].
func uniqueOf[T any](ups []*upConn, items func(features) []T, key func(T) string, shown func(*upConn, features, string) bool) []T {
	by := map[string]*upConn{}
	shared := map[string]bool{}
	for _, c := range ups {
		_, f := c.snapshot()
		for _, x := range items(f) {
			k := key(x)
			if o, ok := by[k]; ok && o != c {
				shared[k] = true
			}
			by[k] = c
		}
	}
	out := []T{}
	seen := map[string]bool{}
	for _, c := range ups {
		_, f := c.snapshot()
		for _, x := range items(f) {
			if k := key(x); !shared[k] && !seen[k] && (shown == nil || shown(c, f, k)) {
				seen[k] = true
				out = append(out, x)
			}
		}
	}
	return out
}

// servedBy returns the one upstream of ups whose features has says serve
// what is asked for, and its session, or nil when none or more than one
// does (ambiguous: uniqueOf), or the one is not connected. An upstream
// that is not connected at the moment (restarting, down) still counts as
// serving what it last listed, as uniqueOf counts it: else another that
// copies its names would get what is meant for it while it is away.
func servedBy(ups []*upConn, has func(features) bool) (*upConn, *mcp.ClientSession) {
	var (
		one *upConn
		ocs *mcp.ClientSession
	)
	for _, c := range ups {
		cs, f := c.snapshot()
		if !has(f) {
			continue
		}
		if one != nil {
			return nil, nil
		}
		one, ocs = c, cs
	}
	if ocs == nil {
		return nil, nil
	}
	return one, ocs
}

// templatesOf is what resources/templates/list shows a caller who may use
// ups: their URI templates, but for one that more than one of them serves
// (its URIs are read from neither: owner) and one withheld.
func templatesOf(cat *catalogue, ups []*upConn) []*mcp.ResourceTemplate {
	return uniqueOf(ups, func(f features) []*mcp.ResourceTemplate { return f.templates }, func(t *mcp.ResourceTemplate) string { return t.URITemplate },
		func(c *upConn, f features, uri string) bool {
			return cat.servable(c, f, featureKey(FeatureTemplate, uri))
		})
}

// serves reports whether c serves its prompt or template key as approved
// (servable), as c last listed it.
func (cat *catalogue) serves(c *upConn, key string) bool {
	_, f := c.snapshot()
	return cat.servable(c, f, key)
}

// withheldReason is the reason of a deny of a prompt, or of a template's
// resource or completion, withheld.
func withheldReason(kind string) string {
	return "the upstream's " + kind + " changed since it was approved: withheld until an admin approves its definition"
}

func (c *upConn) snapshot() (*mcp.ClientSession, features) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.session, c.features
}

var errNotFound = &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: "not found"}

// upstreamParams returns a copy of a caller's params to forward to an
// upstream: without the caller's _meta, as a tool call goes. That _meta is
// the caller's own: from protocol revision 2026-07-28 on it names the
// revision the caller speaks to the gateway
// (io.modelcontextprotocol/protocolVersion), which an upstream session of
// another revision refuses, and its progress token means nothing upstream.
func upstreamParams[P any, PP interface {
	*P
	SetMeta(map[string]any)
}](p PP) PP {
	c := *p
	PP(&c).SetMeta(nil)
	return &c
}

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
		out := &mcp.ListPromptsResult{Prompts: promptsOf(cat, ups)}
		return out, true, g.recordListed(ctx, who, req, method, len(out.Prompts))
	case *mcp.GetPromptRequest:
		a := g.featureAudit(who, req, method, map[string]any{"prompt": r.Params.Name}, r.Params.Arguments)
		a.sent = sentValues(r.Params.Arguments)
		if r.Params.RequestState != "" {
			res, err := g.resumeFeature(ctx, cat, a, ups, method, r.Params.Name, r.Params.RequestState, r.Params.InputResponses)
			return res, true, err
		}
		var held holds
		defer held.release()
		if err := a.slot(ctx, &held); err != nil {
			return nil, true, err
		}
		if c, cs := servedBy(ups, func(f features) bool {
			return slices.ContainsFunc(f.prompts, func(p *mcp.Prompt) bool { return p.Name == r.Params.Name })
		}); c != nil {
			if !cat.serves(c, featureKey(FeaturePrompt, r.Params.Name)) {
				a.ev.Detail["upstream"] = c.cfg.Name
				return nil, true, a.deny(ctx, withheldReason(FeaturePrompt), errNotFound)
			}
			on, cs, release, err := g.featureConn(ctx, a, c, cs)
			if err != nil {
				return nil, true, err
			}
			held.add(release)
			p := upstreamParams(r.Params)
			res, err := flyFeature(ctx, a, c, on, held.take(), method, r.Params.Name, func(ctx context.Context) (*mcp.GetPromptResult, error) { return cs.GetPrompt(ctx, p) })
			return res, true, err
		}
		return nil, true, a.deny(ctx, "no upstream whose tools the caller may call serves the prompt, or more than one does", errNotFound)
	case *mcp.ListResourcesRequest:
		out := &mcp.ListResourcesResult{Resources: resourcesOf(ups)}
		return out, true, g.recordListed(ctx, who, req, method, len(out.Resources))
	case *mcp.ListResourceTemplatesRequest:
		out := &mcp.ListResourceTemplatesResult{ResourceTemplates: templatesOf(cat, ups)}
		return out, true, g.recordListed(ctx, who, req, method, len(out.ResourceTemplates))
	case *mcp.ReadResourceRequest:
		a := g.featureAudit(who, req, method, map[string]any{"uri": r.Params.URI}, nil)
		if r.Params.RequestState != "" {
			res, err := g.resumeFeature(ctx, cat, a, ups, method, r.Params.URI, r.Params.RequestState, r.Params.InputResponses)
			return ownCopy(res), true, err
		}
		var held holds
		defer held.release()
		if err := a.slot(ctx, &held); err != nil {
			return nil, true, err
		}
		c, cs, withheld := owner(cat, ups, r.Params.URI)
		if withheld {
			return nil, true, a.deny(ctx, withheldReason(FeatureTemplate), errNotFound)
		}
		if c == nil {
			return nil, true, a.deny(ctx, "no upstream whose tools the caller may call serves the resource, or more than one does", errNotFound)
		}
		on, cs, release, err := g.featureConn(ctx, a, c, cs)
		if err != nil {
			return nil, true, err
		}
		held.add(release)
		p := upstreamParams(r.Params)
		res, err := flyFeature(ctx, a, c, on, held.take(), method, r.Params.URI, func(ctx context.Context) (*mcp.ReadResourceResult, error) { return cs.ReadResource(ctx, p) })
		return ownCopy(res), true, err
	case *mcp.CompleteRequest:
		ref := r.Params.Ref
		detail := map[string]any{"argument": r.Params.Argument.Name}
		if ref != nil {
			detail["ref_type"] = ref.Type
			if ref.Name != "" {
				detail["prompt"] = ref.Name
			}
			if ref.URI != "" {
				detail["uri"] = ref.URI
			}
		}
		// The value typed so far, and the arguments already given, are
		// kept as a digest.
		a := g.featureAudit(who, req, method, detail, struct {
			Argument mcp.CompleteParamsArgument `json:"argument"`
			Context  *mcp.CompleteContext       `json:"context,omitempty"`
		}{r.Params.Argument, r.Params.Context})
		a.sent = sentValues(map[string]any{"value": r.Params.Argument.Value, "context": r.Params.Context})
		var held holds
		defer held.release()
		if err := a.slot(ctx, &held); err != nil {
			return nil, true, err
		}
		if ref != nil {
			if c, cs := servedBy(ups, func(f features) bool {
				return ref.Type == "ref/prompt" && slices.ContainsFunc(f.prompts, func(p *mcp.Prompt) bool { return p.Name == ref.Name }) ||
					ref.Type == "ref/resource" && slices.ContainsFunc(f.templates, func(t *mcp.ResourceTemplate) bool { return t.URITemplate == ref.URI })
			}); c != nil {
				kind, id := FeaturePrompt, ref.Name
				if ref.Type == "ref/resource" {
					kind, id = FeatureTemplate, ref.URI
				}
				if !cat.serves(c, featureKey(kind, id)) {
					a.ev.Detail["upstream"] = c.cfg.Name
					if err := a.deny(ctx, withheldReason(kind), nil); err != nil {
						return nil, true, err
					}
					return &mcp.CompleteResult{Completion: mcp.CompletionResultDetails{Values: []string{}}}, true, nil
				}
				on, cs, release, err := g.featureConn(ctx, a, c, cs)
				if err != nil {
					return nil, true, err
				}
				held.add(release)
				p := upstreamParams(r.Params)
				res, err := forward(ctx, a, c, on, func(ctx context.Context) (*mcp.CompleteResult, error) { return cs.Complete(ctx, p) })
				return res, true, err
			}
		}
		// Nothing to complete from: no values, as before, and a deny.
		if err := a.deny(ctx, "no upstream whose tools the caller may call serves the completion's reference, or more than one does", nil); err != nil {
			return nil, true, err
		}
		return &mcp.CompleteResult{Completion: mcp.CompletionResultDetails{Values: []string{}}}, true, nil
	}
	return nil, false, nil
}

// recordListed records a list of prompts, resources or resource templates
// (features.list), durable before the list is answered.
func (g *Gateway) recordListed(ctx context.Context, who *caller, req mcp.Request, method string, n int) error {
	ev := baseEvent(who, audit.FeaturesListed, "")
	ev.RemoteAddr = remoteAddr(req)
	ev.Status = "ok"
	ev.Detail = map[string]any{"method": method, "count": n}
	if err := g.recorder().Record(ctx, ev); err != nil {
		return g.notRecorded(ctx, err)
	}
	return nil
}

func remoteAddr(req mcp.Request) string {
	if x := req.GetExtra(); x != nil && x.TokenInfo != nil {
		s, _ := x.TokenInfo.Extra[remoteKey].(string)
		return s
	}
	return ""
}

// featureAudit is the audit of one request for an upstream's prompt,
// resource or completion: its decision, then after an allow its result.
type featureAudit struct {
	g       *Gateway
	who     *caller
	session *mcp.ServerSession // the caller's, where the upstream's messages go
	ev      audit.Event        // the decision
	start   time.Time
	sent    callArgs      // values the caller sent, kept only as a digest (sentValues)
	asked   *flight       // the request's flight, whose answers the trail never keeps; nil: none
	given   *givenAnswers // the answers given on the caller's session, which it never keeps either
}

// sentValues returns v, values a caller sent that the trail keeps only as
// a digest (prompt arguments, a completion's value and context), as
// callArgs, whose unquoted masks them in an upstream's error.
func sentValues(v any) callArgs {
	b, err := json.Marshal(v)
	if err != nil {
		return callArgs{}
	}
	a, _ := canonicalArgs(b)
	return a
}

// maxFeatureName bounds each name (prompt, resource URI, completion
// argument) a feature decision records.
const maxFeatureName = 1 << 10

// putName sets detail[key] to s, shortened past maxFeatureName bytes
// with its length under key_bytes when it was, and returns what it set: a
// name an upstream or a caller chose, of any length, must not take a
// record past the trail's size bound (which then keeps none of its
// detail).
func putName(detail map[string]any, key, s string) string {
	short, cut := clip.String(s, maxFeatureName)
	if cut {
		detail[key+"_bytes"] = len(s)
	}
	detail[key] = short
	return short
}

// featureAudit starts the audit of a request: detail names what it is for,
// each string shortened past maxFeatureName bytes (with its length under
// key_bytes), so that a huge name does not push the method and the reasons
// out of the record; args, when not nil, are kept as the digest of their
// canonical JSON.
func (g *Gateway) featureAudit(who *caller, req mcp.Request, method string, detail map[string]any, args any) *featureAudit {
	ev := baseEvent(who, audit.FeatureDecided, "")
	ev.Correlation = slip.NewID()
	ev.RemoteAddr = remoteAddr(req)
	ev.Policy = PolicyUpstreamFeatures
	ev.Detail = map[string]any{"method": method}
	for k, v := range detail {
		if s, ok := v.(string); ok {
			putName(ev.Detail, k, s)
			continue
		}
		ev.Detail[k] = v
	}
	if args != nil {
		if b, err := json.Marshal(args); err == nil {
			if c, err := slipverify.Canonical(b); err == nil && string(c) != "null" {
				ev.ArgsDigest = slipverify.Digest(c)
			}
		}
	}
	ss, _ := req.GetSession().(*mcp.ServerSession)
	return &featureAudit{g: g, who: who, session: ss, ev: ev, start: time.Now()}
}

// deny records the refusal, durably, and returns answer, or the audit's
// error when the record failed.
// unquoted is msg, an upstream's error, with what the caller sent and
// the answers its flight passed on taken out (callArgs.unquoted,
// flight.unquoted): the trail keeps neither.
func (a *featureAudit) unquoted(msg string) string {
	return a.given.unquoted(a.asked.unquoted(a.sent.unquoted(msg, false)))
}

func (a *featureAudit) deny(ctx context.Context, reason string, answer error) error {
	a.ev.Decision, a.ev.Reasons = "deny", []string{reason}
	if err := a.g.recorder().Record(ctx, a.ev); err != nil {
		return a.g.notRecorded(ctx, err)
	}
	return answer
}

// slot takes one of the caller's call slots (callslots.go) for the
// request, into held: a request forwarded to an upstream holds as much
// as a tool call does, and so is bounded with the caller's tool calls.
// With none free the request is refused as a tool call would be, on the
// record, and err is the answer.
func (a *featureAudit) slot(ctx context.Context, held *holds) error {
	busy, release := a.g.callSlot(a.who.bound)
	held.add(release)
	if busy {
		a.ev.Policy = PolicyCallerBusy
		return a.deny(ctx, busyReason(), callerBusyError{})
	}
	return nil
}

// featureConn returns the upConn, and its session, that a caller's
// request for a prompt, resource or completion of c goes through, held
// until release is called: on a per_caller upstream the caller's own
// process (laneFor), where the state its tool calls left is, and never
// the gateway's own, where it could read what others' left; otherwise c
// and cs, c's own session. A request that cannot have its own process is
// denied, and err is the answer.
func (g *Gateway) featureConn(ctx context.Context, a *featureAudit, c *upConn, cs *mcp.ClientSession) (_ *upConn, _ *mcp.ClientSession, release func(), err error) {
	if !c.cfg.PerCaller {
		return c, cs, noRelease, nil
	}
	l, release, err := g.ups.laneFor(ctx, c, a.who.key)
	var lerr *laneError
	if errors.As(err, &lerr) {
		a.ev.Policy = lerr.policy
		a.ev.Detail["upstream"] = c.cfg.Name
		return nil, nil, noRelease, a.deny(ctx, c.cfg.Name+": "+lerr.reason, lerr)
	}
	l.mu.Lock()
	cs = l.session
	l.mu.Unlock()
	if cs == nil { // it ended since
		release()
		a.ev.Policy = PolicyLaneFailed
		a.ev.Detail["upstream"] = c.cfg.Name
		lerr = c.laneFailed("its own session ended")
		return nil, nil, noRelease, a.deny(ctx, c.cfg.Name+": "+lerr.reason, lerr)
	}
	return l, cs, release, nil
}

// forward records the allow durably, runs the request on the upstream c
// (through on: c itself, or the caller's lane of it) within c's call
// timeout, and records its result (also when the caller has gone away)
// before the answer goes back.
func forward[R any](ctx context.Context, a *featureAudit, c, on *upConn, run func(context.Context) (R, error)) (R, error) {
	return forwardAsking(ctx, a, c, on, relays{}, run)
}

// forwardAsking is forward, where what the upstream asks or logs during
// the request goes through rel (a flight's).
func forwardAsking[R any](ctx context.Context, a *featureAudit, c, on *upConn, rel relays, run func(context.Context) (R, error)) (R, error) {
	var zero R
	upstream := c.cfg.Name
	a.ev.Decision = "allow"
	a.ev.Reasons = []string{"the caller may call a tool of the upstream " + upstream}
	a.ev.Detail["upstream"] = upstream
	// Waited for even if the caller goes away meanwhile, as a tool call's
	// allow is (callTool): the trail may take it all the same, and it then
	// needs its result.
	if err := a.g.recorder().Record(context.WithoutCancel(ctx), a.ev); err != nil {
		return zero, a.g.notRecorded(ctx, err)
	}
	if rel.ask == nil {
		// Asked on the caller's session, if at all.
		ctx, a.given = withGiven(ctx)
	}
	limit := c.callLimit()
	rctx, cancel := context.WithTimeoutCause(ctx, limit, errCallTimeout)
	// Tracked as a call of this caller, as a tool call is: what the
	// upstream says while serving it goes to this caller, never to another
	// whose call shares the upstream's session.
	_, send, done := on.track(ctx, rctx, a.session, a.who.key, rel)
	var (
		res R
		err = ctx.Err() // its caller left before it ran
	)
	if err == nil {
		res, err = run(send)
	}
	late := err != nil && ctx.Err() == nil && context.Cause(rctx) == errCallTimeout
	done(rctx.Err() != nil)
	cancel()
	if late {
		err = fmt.Errorf("the upstream %s did not answer within %v", upstream, limit)
	}
	// The trail keeps what went wrong without the upstream's credentials
	// (those of on's sessions: c's, or the caller's own of it);
	// the caller hears the upstream's own JSON-RPC error, or that the
	// upstream could not serve the request: a transport's error quotes
	// the upstream's URL (its internal address, and a key in its query).
	err = on.scrub(err)
	told := err
	var rpc *jsonrpc.Error
	switch {
	case err == nil, late, ctx.Err() != nil:
	case errors.As(err, &rpc) && !localRPCError(rpc):
		rpc = relayedError(rpc)
		told = rpc // the upstream's own answer (relayedError)
	default:
		told, rpc = errUpstreamFailed, nil
	}
	r := baseEvent(a.who, audit.FeatureResult, "")
	r.Correlation, r.ArgsDigest, r.RemoteAddr = a.ev.Correlation, a.ev.ArgsDigest, a.ev.RemoteAddr
	r.Detail = map[string]any{"method": a.ev.Detail["method"], "upstream": upstream}
	r.Status = "ok"
	// Each error cut short (putErr), once what the caller sent is masked:
	// the record keeps the start of why, however long.
	if late {
		r.Status = "timeout"
		putErr(r.Detail, err.Error())
	} else if err != nil && ctx.Err() != nil {
		// The caller cancelled it, or its session ended: as a tool call's
		// (finish), no failure of the upstream's.
		r.Status = "cancelled"
		putErr(r.Detail, a.unquoted(err.Error()))
	} else if err != nil {
		// An upstream's error may quote what the caller sent ("unknown
		// card 4111…"), which the trail keeps only as a digest: masked,
		// as a tool call's error is (finish).
		r.Status = "error"
		if rpc != nil {
			putErr(r.Detail, a.unquoted(rpc.Message))
			r.Detail["code"] = rpc.Code
		} else {
			putErr(r.Detail, a.unquoted(err.Error()))
		}
	}
	r.DurationMS = float64(time.Since(a.start).Microseconds()) / 1000
	if aerr := a.g.recorder().Record(context.WithoutCancel(ctx), r); aerr != nil {
		return zero, a.g.resultNotRecorded(ctx, aerr, errFeatureResultNotRecorded)
	}
	return res, told
}

// errFeatureResultNotRecorded is what a caller is told when its request
// for a prompt, resource, completion or subscription reached the upstream
// but the trail refused its result: the outcome is not passed on, and the
// caller is not told the request was not carried out (errNotRecorded),
// since the upstream did serve it. Such a request is a read in the
// protocol, and sending it again is mostly harmless, but what an upstream
// does to serve it is its own (a prompt that queries a system, asks the
// person, or has the caller's model sample): the caller is told the
// truth, as errResultNotRecorded tells it of a tool, and judges.
var errFeatureResultNotRecorded = errors.New("the request reached the upstream, but its outcome could not be recorded in the audit trail, so it is not passed on; the upstream may have acted on it: check before sending it again")

// localRPCError reports whether e is one the SDK's client makes itself
// (the transport refused the request, a side is closing, an error without
// a code) rather than one the upstream answered.
func localRPCError(e *jsonrpc.Error) bool {
	switch e.Code {
	case -32005, -32004, -32003, -32001:
		return true
	}
	return false
}

// errUpstreamFailed is what a caller hears of an upstream that failed to
// serve a prompt, resource or completion request other than with its own
// JSON-RPC error.
var errUpstreamFailed = errors.New("the upstream could not serve the request; try again later")

// owner finds the upstream serving uri, and its session: the one that
// lists it or whose URI templates could produce it; none when more than
// one does (servedBy). A URI one upstream lists and another's template
// produces is as ambiguous as one two upstreams list: whichever got it, a
// read meant for the other could go to it, so neither serves it (an
// upstream that lists URIs of another's templates must not take their
// reads). Of the one upstream serving it, a URI it lists is served as
// listed; one it produces only through withheld templates
// (cat.servable) is served not, and withheld says so.
func owner(cat *catalogue, ups []*upConn, uri string) (_ *upConn, _ *mcp.ClientSession, withheld bool) {
	listed := func(f features) bool {
		return slices.ContainsFunc(f.resources, func(r *mcp.Resource) bool { return r.URI == uri })
	}
	matches := func(f features) bool {
		return slices.ContainsFunc(f.templates, func(t *mcp.ResourceTemplate) bool { return templateMatches(t.URITemplate, uri) })
	}
	c, cs := servedBy(ups, func(f features) bool { return listed(f) || matches(f) })
	if c == nil {
		return nil, nil, false
	}
	_, f := c.snapshot()
	if listed(f) {
		return c, cs, false
	}
	if !slices.ContainsFunc(f.templates, func(t *mcp.ResourceTemplate) bool {
		return templateMatches(t.URITemplate, uri) && cat.servable(c, f, featureKey(FeatureTemplate, t.URITemplate))
	}) {
		return nil, nil, true
	}
	return c, cs, false
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
	listenCaller(ctx, req)
	cat, who, err := g.who(ctx, req)
	if err != nil {
		return err
	}
	a := g.featureAudit(who, req, "resources/subscribe", map[string]any{"uri": req.Params.URI}, nil)
	var held holds
	defer held.release()
	if err := a.slot(ctx, &held); err != nil {
		return err
	}
	c, cs, withheld := owner(cat, g.permitted(cat, who), req.Params.URI)
	if withheld {
		return a.deny(ctx, withheldReason(FeatureTemplate), errNotFound)
	}
	if c == nil {
		return a.deny(ctx, "no upstream whose tools the caller may call serves the resource", errNotFound)
	}
	if c.cfg.PerCaller {
		// Each caller's resources are in a process of its own, which
		// ends when idle and whose updates could reach every session
		// subscribed to the URI; the gateway's own process holds no
		// caller's.
		a.ev.Detail["upstream"] = c.cfg.Name
		return a.deny(ctx, c.cfg.Name+" is per_caller: its resources are not subscribed to", errPerCallerSubscribe)
	}
	full := func() error {
		a.ev.Policy = PolicySubscriptions
		a.ev.Detail["upstream"] = c.cfg.Name
		return a.deny(ctx, errSubscriptionsFull.Error(), errSubscriptionsFull)
	}
	// Noted for the session, so that the upstream's subscription ends
	// with the last one's (subscriptions.go).
	return g.subscribeUpstream(ctx, req.Session, subKey{c.cfg.Name, req.Params.URI}, full, func() error {
		_, err := forward(ctx, a, c, c, func(ctx context.Context) (struct{}, error) {
			return struct{}{}, cs.Subscribe(ctx, &mcp.SubscribeParams{URI: req.Params.URI})
		})
		return err
	})
}

// errPerCallerSubscribe answers a subscription to a resource of a
// per_caller upstream.
var errPerCallerSubscribe = errors.New("this resource cannot be subscribed to: it is kept in an instance of your own, which the gateway does not watch")

// unsubscribe ends the session's subscription, in the SDK and, when it
// was the last one, on the upstream (subscriptions.go).
func (g *Gateway) unsubscribe(_ context.Context, req *mcp.UnsubscribeRequest) error {
	if req.Session != nil && req.Params != nil {
		g.dropSubs(req.Session, req.Params.URI)
	}
	return nil
}

const notificationResourceUpdated = "notifications/resources/updated"

// guardResourceUpdated is sending middleware: the SDK sends an upstream's
// notifications/resources/updated to every session that subscribed to
// the URI, and a subscription outlives the permission it was granted on.
// So the notification goes to a session only while its caller (as last
// seen, with a token not yet expired) may use an upstream serving the
// resource, as a new subscription would need.
//
// Nor does it go to a session with no standalone stream open (a client
// that opened none, or whose stream ended): nothing could carry it there,
// and the SDK would warn of every such undelivered notification. That is
// looked at first, as it costs no question to the store.
func (g *Gateway) guardResourceUpdated(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		if method != notificationResourceUpdated {
			return next(ctx, method, req)
		}
		if ss, _ := req.GetSession().(*mcp.ServerSession); ss != nil && ss.ID() != "" && !g.listening(ss.ID()) {
			g.logger().Debug("gateway: resources/updated not sent: the session has no stream open", "session", ss.ID())
			return nil, nil
		}
		if !g.mayHearOf(ctx, req) {
			return nil, nil
		}
		return next(ctx, method, req)
	}
}

// mayHearOf reports whether the session of req, a
// notifications/resources/updated, may be told of its resource. The
// upstream that sent the notice serves the resource (resourceUpdated saw
// to it); what is left to check is the session's, once a round (see
// updateRound).
func (g *Gateway) mayHearOf(ctx context.Context, req mcp.Request) bool {
	ss, _ := req.GetSession().(*mcp.ServerSession)
	p, _ := req.GetParams().(*mcp.ResourceUpdatedNotificationParams)
	cat := g.catalogue()
	if ss == nil || p == nil || cat == nil {
		return false
	}
	// The round passing the URI on: resourceUpdated's, whose send this is.
	// The SDK calls this middleware in resourceUpdated's goroutine, so r
	// is that round's deliver goroutine's alone meanwhile (and for a
	// 2026-07-28 session it copies the params, URI and all).
	r := g.passingOn(p.URI)
	if r == nil {
		return false
	}
	g.viewsMu.Lock()
	var (
		cl  *accesstoken.Claims
		tok string
	)
	if v := g.views[ss]; v != nil {
		cl, tok = v.claims, v.token
	}
	g.viewsMu.Unlock()
	if cl == nil {
		return false
	}
	if may, ok := r.found(cat, ss, tok); ok {
		return may
	}
	may := g.mayHearFrom(ctx, cat, cl, tok, r.from)
	r.heard[ss] = heard{token: tok, may: may}
	return may
}

// mayHearFrom reports whether the caller of claims cl, with token tok, may
// hear of the resources of upstream from.
func (g *Gateway) mayHearFrom(ctx context.Context, cat *catalogue, cl *accesstoken.Claims, tok, from string) bool {
	// A token expired, revoked or signed by a key withdrawn since the
	// session last used it hears no more (and one whose status the store
	// cannot tell, nothing either).
	if !g.stillHolds(ctx, tok) {
		return false
	}
	who, err := cat.resolve(cl)
	if err != nil {
		return false
	}
	// The upstream that sent the notice must be one the caller may use:
	// another's notice for the same URI (one the caller reached through
	// another upstream's template, say) tells of activity on an upstream
	// the caller cannot see.
	return slices.ContainsFunc(g.permitted(cat, who), func(c *upConn) bool { return c.cfg.Name == from })
}

// resourceUpdated passes on to the sessions subscribed to uri that
// upstream r.from said it changed (pendingUpdates.deliver), through
// guardResourceUpdated, which must know which upstream sent it: the SDK's
// broadcast carries no context of ours, only the URI. So r is kept under
// uri while it passes (takeTurn), and a URI is passed on by one round at
// a time: another upstream's notice of the same URI (both serve it, or
// one of them did when its subscriber subscribed) waits its turn, or for
// ctx to end. Notices of other URIs, and so of other upstreams, do not
// wait: a round whose subscribers' checks stall (a store that does not
// answer) holds back only its own upstream's next URIs, and whoever
// passes the same URI on.
//
// Only the URI is passed on: the notices of it were coalesced, and the
// _meta of any one of them, the upstream's, is not the gateway's to relay
// nor to keep.
func (g *Gateway) resourceUpdated(ctx context.Context, r *updateRound, uri string) {
	// Nobody hears of a resource the upstream does not serve (now): the
	// same for every subscriber, so checked once.
	c := g.ups.conn(r.from)
	if c == nil {
		return
	}
	if serving, _, _ := owner(g.catalogue(), []*upConn{c}, uri); serving == nil {
		return
	}
	release, ok := g.takeTurn(ctx, r, uri)
	if !ok {
		return
	}
	defer release()
	g.server.ResourceUpdated(ctx, &mcp.ResourceUpdatedNotificationParams{URI: uri})
}
