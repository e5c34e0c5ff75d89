package policy

// Conditions are Cedar expressions written by tenant administrators. cedar-go
// exposes no parser for a bare expression, so a condition is wrapped into a
// whole policy and parsed; the result is then checked to be exactly the
// wrapper with one `when` clause, so that text such as
// `true }; permit (principal, action, resource) when { true` or
// `false } unless { false` cannot smuggle in a second policy or clause.

import (
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/cedar-policy/cedar-go"
	cedarast "github.com/cedar-policy/cedar-go/ast"
	"github.com/cedar-policy/cedar-go/x/exp/ast"
)

// ErrCondition is wrapped by every error Compile returns for a condition
// that is not exactly one Cedar expression.
var ErrCondition = errors.New("invalid condition")

const (
	// The condition gets lines of its own so that a trailing // comment in
	// it cannot comment out the closing brace.
	wrapPrefix = "permit (principal, action, resource) when {\n"
	wrapSuffix = "\n};"
)

var (
	actionCall  = cedar.NewEntityUID("Action", "call")
	emptyRecord = cedar.NewRecord(nil)
)

type condition struct {
	text     string // as written, trimmed, for reasons
	policy   *single
	usesArgs bool // the expression may read context.args
	// usesAgent: the expression may read context.agent; its reasons for
	// a delegated call then name the chain (see chainNote).
	usesAgent bool
	// gate, for a condition that reads context.args, is the conjunction
	// of its top-level && operands that do not (nil when there are none).
	// When the gate is not true for a principal and agent, the condition
	// is false (or an error) whatever the arguments: Cedar's && stops at
	// the first operand that is not true, wherever the gate's operands
	// stand in it.
	gate *single
	// fast and gateFast evaluate policy and gate without Cedar when they
	// can (nil when the expression is outside the subset fast.go knows).
	fast, gateFast fastExpr
	// names, for a condition that reads context.args, are the names it
	// may read an argument by (see casefold.go); nil when there are none.
	names *argNames
	// isTrue and isFalse are the decision's reasons, built once.
	isTrue, isFalse string
}

func compileCondition(src string) (*condition, error) {
	var list cedar.PolicyList
	if err := list.UnmarshalCedar([]byte(wrapPrefix + src + wrapSuffix)); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrCondition, relocate(err.Error(), src))
	}
	if len(list) != 1 {
		return nil, fmt.Errorf("%w: must be a single expression, not policy text", ErrCondition)
	}
	p := (*ast.Policy)(list[0].AST())
	if !isWrapper(p) {
		return nil, fmt.Errorf("%w: must be a single expression, not policy text", ErrCondition)
	}
	c := &condition{
		text:      strings.TrimSpace(src),
		policy:    newSingle(list[0]),
		usesArgs:  dependsOnArgs(p.Conditions[0].Body),
		usesAgent: readsAgent(p.Conditions[0].Body),
		fast:      compileFast(p.Conditions[0].Body),
	}
	c.isTrue, c.isFalse = "condition `"+c.text+"` is true", "condition `"+c.text+"` is false"
	if c.usesArgs {
		c.names = readNames(p.Conditions[0].Body)
		var gate *ast.Node
		for _, n := range conjuncts(p.Conditions[0].Body) {
			if dependsOnArgs(n) {
				continue
			}
			if node := ast.NewNode(n); gate == nil {
				gate = &node
			} else {
				*gate = gate.And(node)
			}
		}
		if gate != nil {
			c.gate = newSingle(cedar.NewPolicyFromAST((*cedarast.Policy)(ast.Permit().When(*gate))))
			c.gateFast = compileFast(gate.AsIsNode())
		}
	}
	return c, nil
}

// conjuncts returns the operands of body's top-level && chain (body
// itself when it is no &&).
func conjuncts(body ast.IsNode) []ast.IsNode {
	if and, ok := body.(ast.NodeTypeAnd); ok {
		return append(conjuncts(and.Left), conjuncts(and.Right)...)
	}
	return []ast.IsNode{body}
}

// isWrapper reports whether p is exactly the wrapper policy around one
// `when` body.
func isWrapper(p *ast.Policy) bool {
	_, allP := p.Principal.(ast.ScopeTypeAll)
	_, allA := p.Action.(ast.ScopeTypeAll)
	_, allR := p.Resource.(ast.ScopeTypeAll)
	return p.Effect == ast.EffectPermit && len(p.Annotations) == 0 && allP && allA && allR &&
		len(p.Conditions) == 1 && p.Conditions[0].Condition == ast.ConditionWhen
}

// dependsOnArgs reports whether body may read context.args. It is
// conservative: any use of context other than context.agent or
// `context has agent` counts.
func dependsOnArgs(body ast.IsNode) bool {
	dep := false
	ast.Inspect(ast.NewNode(body), func(n ast.IsNode) bool {
		if dep {
			return false
		}
		switch n := n.(type) {
		case ast.NodeTypeAccess:
			if isContext(n.Arg) {
				dep = n.Value != "agent"
				return false
			}
		case ast.NodeTypeHas:
			if isContext(n.Arg) {
				dep = n.Value != "agent"
				return false
			}
		case ast.NodeTypeVariable:
			if n.Name == "context" {
				dep = true
			}
		}
		return true
	})
	return dep
}

// readsAgent reports whether body may read context.agent: an access or
// `has` of it, or context used otherwise than by one of its attributes.
func readsAgent(body ast.IsNode) bool {
	reads := false
	ast.Inspect(ast.NewNode(body), func(n ast.IsNode) bool {
		if reads {
			return false
		}
		switch n := n.(type) {
		case ast.NodeTypeAccess:
			if isContext(n.Arg) {
				reads = n.Value == "agent"
				return false
			}
		case ast.NodeTypeHas:
			if isContext(n.Arg) {
				reads = n.Value == "agent"
				return false
			}
		case ast.NodeTypeVariable:
			if n.Name == "context" {
				reads = true
			}
		}
		return true
	})
	return reads
}

func isContext(n ast.IsNode) bool {
	v, ok := n.(ast.NodeTypeVariable)
	return ok && v.Name == "context"
}

var inputPos = regexp.MustCompile(`<input>:(\d+):(\d+)`)

// relocate rewrites parser positions in msg, which count from the start of
// the wrapper, to count from the start of the condition.
func relocate(msg, src string) string {
	msg = strings.TrimPrefix(msg, "parser error: ")
	// Cedar passes the number parser's own words on: said in Cedar's.
	msg = goNumberError.ReplaceAllString(msg, "the number $1 is out of range (Cedar's whole numbers are 64-bit)")
	lines := strings.Count(src, "\n") + 1
	msg = inputPos.ReplaceAllStringFunc(msg, func(m string) string {
		sub := inputPos.FindStringSubmatch(m)
		line, err := strconv.Atoi(sub[1])
		if err != nil || line < 2 || line-1 > lines {
			return "the end of the condition"
		}
		return "line " + strconv.Itoa(line-1) + ", column " + sub[2]
	})
	// Past the end, the token Cedar quotes is the wrapper's, not the
	// condition's: "at the end of the condition \";\"" would name a
	// character the author never wrote.
	return wrapperToken.ReplaceAllString(msg, "the end of the condition")
}

// wrapperToken is a token of wrapSuffix, as a parse error at the end of
// the condition quotes it.
var wrapperToken = regexp.MustCompile(`the end of the condition "[;}]"`)

// goNumberError is Go's number parser's error, as Cedar quotes it.
var goNumberError = regexp.MustCompile(`strconv\.Parse\w+: parsing "([^"]*)": value out of range`)

// single is a PolicyIterator over one policy; a PolicySet would cost a
// map, and an iterator made at each call an allocation.
type single struct {
	*cedar.Policy
	all iter.Seq2[cedar.PolicyID, *cedar.Policy]
}

var _ cedar.PolicyIterator = (*single)(nil)

func newSingle(p *cedar.Policy) *single {
	return &single{Policy: p, all: func(yield func(cedar.PolicyID, *cedar.Policy) bool) { yield("when", p) }}
}

func (s *single) All() iter.Seq2[cedar.PolicyID, *cedar.Policy] { return s.all }

// eval evaluates the condition for one call and returns the outcome with
// its reason. Arguments are converted only when the condition may read them,
// so a condition about the principal is not defeated by unrelated arguments.
func (c *condition) eval(p Principal, a Agent, tool string, args map[string]any) (bool, string) {
	if !c.usesArgs {
		args = nil
	}
	if c.fast != nil && (args == nil || convertible(args)) {
		if v, ok := c.fast(newFastEnv(p, a, tool, args)); ok && v.kind == fastBool {
			if v.b {
				return true, c.isTrue
			}
			return false, c.isFalse
		}
	}
	return c.evalCedar(p, a, tool, args)
}

// evalCedar is eval by Cedar itself.
func (c *condition) evalCedar(p Principal, a Agent, tool string, args map[string]any) (bool, string) {
	argsRec := emptyRecord
	if c.usesArgs {
		rec, err := argsRecord(args)
		if err != nil {
			msg := err.Error()
			if ae, ok := err.(*argError); ok {
				msg = ae.path(c.names.has) + ": " + ae.err.Error()
			}
			return false, "arguments cannot be checked against condition `" + c.text + "`: " + msg
		}
		argsRec = rec
	}
	dec, diag := authorize(c.policy, p, a, tool, argsRec)
	switch {
	case len(diag.Errors) > 0:
		return false, "condition `" + c.text + "` could not be evaluated: " + c.evalError(diag.Errors[0].Message, args)
	case dec == cedar.Allow:
		return true, c.isTrue
	default:
		return false, c.isFalse
	}
}

// evalError is what a reason says of Cedar's error message msg. The
// reason goes to the audit trail, which keeps argument values only when
// the tenant opts in, and Cedar prints some values bare (an IP address it
// could not parse) or a piece of them (a duration's unexpected
// character), which no masking of quoted values finds. So, for a
// condition that reads the arguments, a message in which the text of any
// argument occurs is left out, and an extension function's parse error
// keeps only what failed to parse.
func (c *condition) evalError(msg string, args map[string]any) string {
	if !c.usesArgs {
		return withoutValues(msg)
	}
	if quotesArgs(msg, args) {
		return "its message is left out because it quotes the arguments"
	}
	return withoutValues(parseDetail.ReplaceAllString(msg, "$1"))
}

// quotesArgs reports whether the text of any argument in v occurs in msg:
// a string, a key, or a number as JSON writes it and as Cedar prints it,
// at any depth. A short value may occur by chance ("1" in a message about
// line 1), which costs the message, never a value.
func quotesArgs(msg string, v any) bool {
	switch v := v.(type) {
	case nil, bool:
		return false
	case string:
		q := strconv.Quote(v) // as %q would escape it
		return v != "" && (strings.Contains(msg, v) || strings.Contains(msg, q[1:len(q)-1]))
	case map[string]any:
		for k, e := range v {
			if quotesArgs(msg, k) || quotesArgs(msg, e) {
				return true
			}
		}
		return false
	case []any:
		return slices.ContainsFunc(v, func(e any) bool { return quotesArgs(msg, e) })
	default: // a number
		if b, err := json.Marshal(v); err == nil && quotesArgs(msg, string(b)) {
			return true
		}
		cv, err := toValue(v)
		return err == nil && quotesArgs(msg, cv.String())
	}
}

// parseDetail is the detail of an extension function's parse error (the
// sentinels of cedar-go's internal package), which names the piece of the
// text that failed.
var parseDetail = regexp.MustCompile(`(?s)(error parsing (?:ip|decimal|duration|datetime) value):.*`)

// quotedValue is what Cedar's error messages quote values as: a number
// in backticks (an overflow names its operands), a string in double
// quotes (an entity's id, an extension function's argument).
var quotedValue = regexp.MustCompile("`-?[0-9]+`" + `|"(?:[^"\\]|\\.)*"`)

// withoutValues is a Cedar error message with the values it quotes left
// out: the reason goes to the audit trail, which keeps argument values
// only when the tenant opts in. The attribute names and types it names,
// which come from the condition, stay.
func withoutValues(msg string) string {
	return quotedValue.ReplaceAllStringFunc(msg, func(q string) string {
		if q[0] == '`' {
			return "`…`"
		}
		return `"…"`
	})
}

// possible reports whether the condition may be true for p through a with
// some arguments: false when it reads no arguments and is not true, or
// when its gate is not true.
func (c *condition) possible(p Principal, a Agent, tool string) bool {
	switch {
	case !c.usesArgs:
		ok, _ := c.eval(p, a, tool, nil)
		return ok
	case c.gateFast != nil:
		if v, ok := c.gateFast(newFastEnv(p, a, tool, nil)); ok && v.kind == fastBool {
			return v.b
		}
		fallthrough
	case c.gate != nil:
		dec, diag := authorize(c.gate, p, a, tool, emptyRecord)
		return dec == cedar.Allow && len(diag.Errors) == 0
	}
	return true
}

// authorize evaluates pol for one call, with args as context.args.
func authorize(pol *single, p Principal, a Agent, tool string, argsRec cedar.Record) (cedar.Decision, cedar.Diagnostic) {
	uid, entities := principalEntities(p)
	req := cedar.Request{
		Principal: uid,
		Action:    actionCall,
		Resource:  cedar.NewEntityUID("Tool", cedar.String(tool)),
		Context:   cedar.NewRecord(cedar.RecordMap{"args": argsRec, "agent": agentRecord(a)}),
	}
	return cedar.Authorize(pol, entities, req)
}

// Building Cedar values (records copy and hash their maps) cost more than
// evaluating a condition, and a person's entity and an agent's record are
// the same from one call to the next. They are kept, in bounded memories
// emptied when full, by the person's subject and the agent's client ID and
// kind; a person's entry is used only while its roles and attributes are
// still the ones it was built from, and rebuilt when they change.
var (
	principalMemo = memo[string, principalEntry]{max: 4096}
	agentMemo     = memo[agentKey, cedar.Record]{max: 1024}
)

// agentKey is an agent's memory key; chain is its Chain, each ID after
// its length, so that no two chains share a key ("" when there is none).
type agentKey struct{ clientID, kind, chain string }

func newAgentKey(a Agent) agentKey {
	k := agentKey{clientID: a.ClientID, kind: a.Kind}
	if len(a.Chain) > 0 {
		var kb [64]byte // most chains fit: the key then costs one allocation
		b := kb[:0]
		for _, id := range a.Chain {
			b = append(strconv.AppendInt(b, int64(len(id)), 10), ':')
			b = append(b, id...)
		}
		k.chain = string(b)
	}
	return k
}

type principalEntry struct {
	roles    []string          // what the entry was built from
	attrs    map[string]string // (copies)
	uid      cedar.EntityUID
	entities cedar.EntityMap // read only once built
}

// principalEntities is the person as Cedar's one entity of a request: with
// attributes, and no parent (the fast path's `in` relies on that: see
// fast.go).
func principalEntities(p Principal) (cedar.EntityUID, cedar.EntityMap) {
	e := principalMemo.get(p.Subject, func(e principalEntry) bool {
		return slices.Equal(e.roles, p.Roles) && maps.Equal(e.attrs, p.Attributes)
	}, func() principalEntry {
		uid := cedar.NewEntityUID("User", cedar.String(p.Subject))
		attrs := make(cedar.RecordMap, len(p.Attributes)+1)
		for k, v := range p.Attributes {
			attrs[cedar.String(k)] = cedar.String(v)
		}
		roles := make([]cedar.Value, len(p.Roles))
		for i, r := range p.Roles {
			roles[i] = cedar.String(r)
		}
		attrs["roles"] = cedar.NewSet(roles...)
		return principalEntry{roles: slices.Clone(p.Roles), attrs: maps.Clone(p.Attributes),
			uid: uid, entities: cedar.EntityMap{uid: {UID: uid, Attributes: cedar.NewRecord(attrs)}}}
	})
	return e.uid, e.entities
}

// agentRecord is context.agent: the presenting client's client_id and
// kind, the set chain of every client the call passes through (that one
// and its delegation chain's) and whether any of them is another
// (delegated).
func agentRecord(a Agent) cedar.Record {
	return agentMemo.get(newAgentKey(a), nil, func() cedar.Record {
		chain := make([]cedar.Value, 0, len(a.Chain)+1)
		chain = append(chain, cedar.String(a.ClientID))
		for _, id := range a.Chain {
			chain = append(chain, cedar.String(id))
		}
		return cedar.NewRecord(cedar.RecordMap{
			"client_id": cedar.String(a.ClientID),
			"kind":      cedar.String(a.Kind),
			"chain":     cedar.NewSet(chain...),
			"delegated": cedar.Boolean(delegated(a)),
		})
	})
}

// memo is a bounded map from a key to a value built once.
type memo[K comparable, V any] struct {
	mu  sync.RWMutex
	m   map[K]V
	max int
}

// get returns key's value when there is one and current (nil: any is)
// accepts it, and otherwise builds, keeps and returns a new one.
func (m *memo[K, V]) get(key K, current func(V) bool, build func() V) V {
	m.mu.RLock()
	v, ok := m.m[key]
	m.mu.RUnlock()
	if ok && (current == nil || current(v)) {
		return v
	}
	v = build()
	m.mu.Lock()
	if m.m == nil || len(m.m) >= m.max {
		m.m = make(map[K]V)
	}
	m.m[key] = v
	m.mu.Unlock()
	return v
}
