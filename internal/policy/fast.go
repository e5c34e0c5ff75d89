package policy

// A condition written in the common subset of Cedar — &&, ||, !, if, ==,
// !=, the four orderings and +, - and * over Longs, like, has, attribute
// access, .contains, .containsAll, .containsAny and .isEmpty on the
// person's roles or a set of literals, in and is over entities, and
// literals — is also compiled into a tree of Go closures that reads the
// person, the agent and the arguments where they are, without building
// Cedar records for them. Building those records and Cedar's evaluator
// cost about 30 allocations a decision, and the garbage they leave is what
// set the p99.
//
// The closures only ever answer when Cedar would answer the same without
// an error; on anything else (a missing attribute, a type mismatch, an
// overflow, a decimal, an argument that is a list, an operator outside
// the subset) they give up and the condition is evaluated by Cedar, which
// then also writes the error's reason. The differential tests compare both
// on random expressions and inputs. `in` relies on no entity of a request
// having a parent (principalEntities gives the person none): it is
// equality, or membership in a set of entities.

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/cedar-policy/cedar-go/types"
	"github.com/cedar-policy/cedar-go/x/exp/ast"
)

type fastKind uint8

const (
	fastBool fastKind = iota + 1
	fastLong
	fastString
	fastEntity  // s is the type, s2 the id
	fastRoles   // the principal's roles, a set of strings
	fastContext // the context record
	fastAgent   // context.agent
	fastChain   // context.agent.chain: the client and its chain, a set of strings
	fastRecord  // a JSON object of the arguments, m (context.args when nil)
	fastSet     // a set literal of scalars, set
)

// fastValue is one value during a fast evaluation. It lives on the stack.
type fastValue struct {
	kind  fastKind
	b     bool
	n     int64
	s, s2 string
	m     map[string]any
	set   []fastValue
}

// fastEnv is what a fast evaluation reads.
type fastEnv struct {
	subject      string
	roles        []string
	attrs        map[string]string
	client, kind string
	chain        []string // the client's delegation chain; the client is of the set too
	tool         string
	args         map[string]any
}

func newFastEnv(p Principal, a Agent, tool string, args map[string]any) *fastEnv {
	return &fastEnv{subject: p.Subject, roles: p.Roles, attrs: p.Attributes, client: a.ClientID, kind: a.Kind, chain: a.Chain, tool: tool, args: args}
}

// fastExpr evaluates a node; ok is false when Cedar must decide instead.
type fastExpr func(e *fastEnv) (v fastValue, ok bool)

// compileFast compiles n, or returns nil when n uses anything outside the
// subset.
func compileFast(n ast.IsNode) fastExpr {
	switch n := n.(type) {
	case ast.NodeValue:
		var v fastValue
		switch lit := n.Value.(type) {
		case types.Boolean:
			v = fastValue{kind: fastBool, b: bool(lit)}
		case types.Long:
			v = fastValue{kind: fastLong, n: int64(lit)}
		case types.String:
			v = fastValue{kind: fastString, s: string(lit)}
		case types.EntityUID:
			v = fastValue{kind: fastEntity, s: string(lit.Type), s2: string(lit.ID)}
		default:
			return nil
		}
		return func(*fastEnv) (fastValue, bool) { return v, true }
	case ast.NodeTypeSet:
		// Literals only, the common case (["emea", "amer"].contains(…)).
		elems := make([]fastValue, 0, len(n.Elements))
		for _, el := range n.Elements {
			lit, ok := el.(ast.NodeValue)
			if !ok {
				return nil
			}
			f := compileFast(lit)
			if f == nil {
				return nil // a decimal, an IP address…
			}
			v, _ := f(nil) // a literal reads nothing
			elems = append(elems, v)
		}
		v := fastValue{kind: fastSet, set: elems}
		return func(*fastEnv) (fastValue, bool) { return v, true }
	case ast.NodeTypeVariable:
		switch n.Name {
		case "principal":
			return func(e *fastEnv) (fastValue, bool) {
				return fastValue{kind: fastEntity, s: "User", s2: e.subject}, true
			}
		case "action":
			return func(*fastEnv) (fastValue, bool) {
				return fastValue{kind: fastEntity, s: "Action", s2: "call"}, true
			}
		case "resource":
			return func(e *fastEnv) (fastValue, bool) {
				return fastValue{kind: fastEntity, s: "Tool", s2: e.tool}, true
			}
		case "context":
			return func(*fastEnv) (fastValue, bool) { return fastValue{kind: fastContext}, true }
		}
		return nil
	case ast.NodeTypeAnd:
		return fastLogic(n.Left, n.Right, false)
	case ast.NodeTypeOr:
		return fastLogic(n.Left, n.Right, true)
	case ast.NodeTypeNegate:
		return fastUnary(n.Arg, fastLong, func(v fastValue) (fastValue, bool) {
			if v.n == math.MinInt64 { // Cedar: overflow
				return fastValue{}, false
			}
			return fastValue{kind: fastLong, n: -v.n}, true
		})
	case ast.NodeTypeNot:
		return fastUnary(n.Arg, fastBool, func(v fastValue) (fastValue, bool) {
			return fastValue{kind: fastBool, b: !v.b}, true
		})
	case ast.NodeTypeIfThenElse:
		cond, then, els := compileFast(n.If), compileFast(n.Then), compileFast(n.Else)
		if cond == nil || then == nil || els == nil {
			return nil
		}
		return func(e *fastEnv) (fastValue, bool) {
			c, ok := cond(e)
			if !ok || c.kind != fastBool {
				return fastValue{}, false
			}
			if c.b {
				return then(e)
			}
			return els(e)
		}
	case ast.NodeTypeEquals:
		return fastEquality(n.Left, n.Right, false)
	case ast.NodeTypeNotEquals:
		return fastEquality(n.Left, n.Right, true)
	case ast.NodeTypeLessThan:
		return fastOrder(n.Left, n.Right, func(l, r int64) bool { return l < r })
	case ast.NodeTypeLessThanOrEqual:
		return fastOrder(n.Left, n.Right, func(l, r int64) bool { return l <= r })
	case ast.NodeTypeGreaterThan:
		return fastOrder(n.Left, n.Right, func(l, r int64) bool { return l > r })
	case ast.NodeTypeGreaterThanOrEqual:
		return fastOrder(n.Left, n.Right, func(l, r int64) bool { return l >= r })
	case ast.NodeTypeLike:
		pattern := n.Value
		return fastUnary(n.Arg, fastString, func(v fastValue) (fastValue, bool) {
			// Cedar's own matcher: the same wildcards and escapes.
			return fastValue{kind: fastBool, b: pattern.Match(types.String(v.s))}, true
		})
	case ast.NodeTypeAccess:
		return fastAttr(n.Arg, string(n.Value), false)
	case ast.NodeTypeHas:
		return fastAttr(n.Arg, string(n.Value), true)
	case ast.NodeTypeContains:
		return fastBoth(n.Left, n.Right, func(e *fastEnv, set, x fastValue) (fastValue, bool) {
			if !scalar(x.kind) || !isSet(set.kind) {
				return fastValue{}, false
			}
			return fastValue{kind: fastBool, b: setHas(e, set, x)}, true
		})
	case ast.NodeTypeContainsAll:
		return fastSets(n.Left, n.Right, false)
	case ast.NodeTypeContainsAny:
		return fastSets(n.Left, n.Right, true)
	case ast.NodeTypeIsEmpty:
		return fastSetOf(n.Arg, func(e *fastEnv, set fastValue) (fastValue, bool) {
			empty := len(set.set) == 0
			switch set.kind {
			case fastRoles:
				empty = len(e.roles) == 0
			case fastChain:
				empty = false // it holds the client
			}
			return fastValue{kind: fastBool, b: empty}, true
		})
	case ast.NodeTypeAdd:
		return fastArith(n.Left, n.Right, addLongs)
	case ast.NodeTypeSub:
		return fastArith(n.Left, n.Right, subLongs)
	case ast.NodeTypeMult:
		return fastArith(n.Left, n.Right, mulLongs)
	case ast.NodeTypeIn:
		return fastBoth(n.Left, n.Right, func(_ *fastEnv, l, r fastValue) (fastValue, bool) {
			if l.kind != fastEntity {
				return fastValue{}, false
			}
			return entityIn(l, r)
		})
	case ast.NodeTypeIs:
		typ := string(n.EntityType)
		return fastUnary(n.Left, fastEntity, func(v fastValue) (fastValue, bool) {
			return fastValue{kind: fastBool, b: v.s == typ}, true
		})
	case ast.NodeTypeIsIn:
		typ := string(n.EntityType)
		l, r := compileFast(n.Left), compileFast(n.Entity)
		if l == nil || r == nil {
			return nil
		}
		return func(e *fastEnv) (fastValue, bool) {
			lv, ok := l(e)
			if !ok || lv.kind != fastEntity {
				return fastValue{}, false
			}
			if lv.s != typ { // Cedar does not read the right side then
				return fastValue{kind: fastBool}, true
			}
			rv, ok := r(e)
			if !ok {
				return fastValue{}, false
			}
			return entityIn(lv, rv)
		}
	}
	return nil
}

// isSet reports whether a value of kind k is a set: the person's roles,
// the agent's chain or a set literal.
func isSet(k fastKind) bool { return k == fastRoles || k == fastChain || k == fastSet }

// setHas is Cedar's membership of the scalar x in set (isSet).
func setHas(e *fastEnv, set, x fastValue) bool {
	switch set.kind {
	case fastRoles:
		return x.kind == fastString && slices.Contains(e.roles, x.s)
	case fastChain:
		return x.kind == fastString && (x.s == e.client || slices.Contains(e.chain, x.s))
	}
	return slices.ContainsFunc(set.set, func(el fastValue) bool { return equalScalars(el, x) })
}

// fastSetOf compiles an operator of one operand that must be a set.
func fastSetOf(arg ast.IsNode, op func(e *fastEnv, set fastValue) (fastValue, bool)) fastExpr {
	a := compileFast(arg)
	if a == nil {
		return nil
	}
	return func(e *fastEnv) (fastValue, bool) {
		v, ok := a(e)
		if !ok || !isSet(v.kind) {
			return fastValue{}, false
		}
		return op(e, v)
	}
}

// fastSets is left.containsAll(right) (anyOf false) or
// left.containsAny(right) (anyOf true), both operands sets.
func fastSets(left, right ast.IsNode, anyOf bool) fastExpr {
	return fastBoth(left, right, func(e *fastEnv, l, r fastValue) (fastValue, bool) {
		if !isSet(l.kind) || !isSet(r.kind) {
			return fastValue{}, false
		}
		in := func(x fastValue) bool { return setHas(e, l, x) }
		var found bool
		switch r.kind {
		case fastRoles:
			found = slices.ContainsFunc(e.roles, func(s string) bool { return in(fastValue{kind: fastString, s: s}) == anyOf })
		case fastChain:
			member := func(s string) bool { return in(fastValue{kind: fastString, s: s}) == anyOf }
			found = member(e.client) || slices.ContainsFunc(e.chain, member)
		default:
			found = slices.ContainsFunc(r.set, func(x fastValue) bool { return in(x) == anyOf })
		}
		// containsAny: one member found; containsAll: none missing.
		return fastValue{kind: fastBool, b: found == anyOf}, true
	})
}

// entityIn is Cedar's `in` of the entity l in r, an entity or a set of
// entities. No entity the request holds has a parent, so it is equality,
// or membership.
func entityIn(l, r fastValue) (fastValue, bool) {
	switch r.kind {
	case fastEntity:
		return fastValue{kind: fastBool, b: equalScalars(l, r)}, true
	case fastSet:
		found := false
		for _, el := range r.set {
			if el.kind != fastEntity { // Cedar: a type error
				return fastValue{}, false
			}
			found = found || equalScalars(l, el)
		}
		return fastValue{kind: fastBool, b: found}, true
	}
	return fastValue{}, false // the roles (strings), or not a set: Cedar decides
}

// fastArith is a Long operator; an operand that is not a Long, or an
// overflow (a Cedar error), is left to Cedar.
func fastArith(left, right ast.IsNode, op func(l, r int64) (int64, bool)) fastExpr {
	return fastBoth(left, right, func(_ *fastEnv, lv, rv fastValue) (fastValue, bool) {
		if lv.kind != fastLong || rv.kind != fastLong {
			return fastValue{}, false
		}
		n, ok := op(lv.n, rv.n)
		if !ok {
			return fastValue{}, false
		}
		return fastValue{kind: fastLong, n: n}, true
	})
}

func addLongs(l, r int64) (int64, bool) {
	s := l + r
	return s, (l^s)&(r^s) >= 0
}

func subLongs(l, r int64) (int64, bool) {
	s := l - r
	return s, (l^r)&(l^s) >= 0
}

func mulLongs(l, r int64) (int64, bool) {
	if l == 0 || r == 0 {
		return 0, true
	}
	p := l * r
	if p/r != l || (l == -1 && r == math.MinInt64) || (r == -1 && l == math.MinInt64) {
		return 0, false
	}
	return p, true
}

// fastLogic is && (or false) and || (or true): the right operand is
// evaluated only when the left one does not settle it, as in Cedar.
func fastLogic(left, right ast.IsNode, or bool) fastExpr {
	l, r := compileFast(left), compileFast(right)
	if l == nil || r == nil {
		return nil
	}
	return func(e *fastEnv) (fastValue, bool) {
		lv, ok := l(e)
		if !ok || lv.kind != fastBool {
			return fastValue{}, false
		}
		if lv.b == or {
			return lv, true
		}
		rv, ok := r(e)
		if !ok || rv.kind != fastBool {
			return fastValue{}, false
		}
		return rv, true
	}
}

func scalar(k fastKind) bool {
	return k == fastBool || k == fastLong || k == fastString || k == fastEntity
}

// fastUnary compiles an operator of one operand, which must be of kind;
// any other is left to Cedar.
func fastUnary(arg ast.IsNode, kind fastKind, op func(v fastValue) (fastValue, bool)) fastExpr {
	a := compileFast(arg)
	if a == nil {
		return nil
	}
	return func(e *fastEnv) (fastValue, bool) {
		v, ok := a(e)
		if !ok || v.kind != kind {
			return fastValue{}, false
		}
		return op(v)
	}
}

// fastBoth compiles an operator that needs both its operands: it gives
// up when either does, or when op does. (Which operand fails first does
// not matter: giving up leaves the whole condition to Cedar.)
func fastBoth(left, right ast.IsNode, op func(e *fastEnv, l, r fastValue) (fastValue, bool)) fastExpr {
	l, r := compileFast(left), compileFast(right)
	if l == nil || r == nil {
		return nil
	}
	return func(e *fastEnv) (fastValue, bool) {
		lv, ok := l(e)
		if !ok {
			return fastValue{}, false
		}
		rv, ok := r(e)
		if !ok {
			return fastValue{}, false
		}
		return op(e, lv, rv)
	}
}

// fastEquality compares scalars as Cedar does: values of different types
// are unequal, not an error. Sets and records are left to Cedar.
func fastEquality(left, right ast.IsNode, negate bool) fastExpr {
	return fastBoth(left, right, func(_ *fastEnv, lv, rv fastValue) (fastValue, bool) {
		if !scalar(lv.kind) || !scalar(rv.kind) {
			return fastValue{}, false
		}
		return fastValue{kind: fastBool, b: equalScalars(lv, rv) != negate}, true
	})
}

// equalScalars is Cedar's equality of two scalars: of one type, and equal.
func equalScalars(a, b fastValue) bool {
	return a.kind == b.kind && a.b == b.b && a.n == b.n && a.s == b.s && a.s2 == b.s2
}

// fastOrder compares two Longs; any other operand is left to Cedar.
func fastOrder(left, right ast.IsNode, cmp func(l, r int64) bool) fastExpr {
	return fastBoth(left, right, func(_ *fastEnv, lv, rv fastValue) (fastValue, bool) {
		if lv.kind != fastLong || rv.kind != fastLong {
			return fastValue{}, false
		}
		return fastValue{kind: fastBool, b: cmp(lv.n, rv.n)}, true
	})
}

// fastAttr is `obj.name` (has false) or `obj has name` (has true) over the
// records and the one entity (the principal) the request carries.
func fastAttr(obj ast.IsNode, name string, has bool) fastExpr {
	o := compileFast(obj)
	if o == nil {
		return nil
	}
	return func(e *fastEnv) (fastValue, bool) {
		ov, ok := o(e)
		if !ok {
			return fastValue{}, false
		}
		var (
			v     fastValue
			found bool
		)
		switch ov.kind {
		case fastEntity:
			if ov.s != "User" || ov.s2 != e.subject {
				if has { // an entity the request does not hold has no attributes
					return fastValue{kind: fastBool}, true
				}
				return fastValue{}, false
			}
			if name == "roles" {
				v, found = fastValue{kind: fastRoles}, true
			} else if s, in := e.attrs[name]; in {
				v, found = fastValue{kind: fastString, s: s}, true
			}
		case fastContext:
			switch name {
			case "args":
				v, found = fastValue{kind: fastRecord}, true
			case "agent":
				v, found = fastValue{kind: fastAgent}, true
			}
		case fastAgent:
			switch name {
			case "client_id":
				v, found = fastValue{kind: fastString, s: e.client}, true
			case "kind":
				v, found = fastValue{kind: fastString, s: e.kind}, true
			case "chain":
				v, found = fastValue{kind: fastChain}, true
			case "delegated":
				v, found = fastValue{kind: fastBool, b: actsForOther(e.client, e.chain)}, true
			}
		case fastRecord:
			m := ov.m
			if m == nil {
				m = e.args
			}
			// A member whose value is JSON null is there: its value is
			// the entity Null::"" (see nullValue).
			if raw, in := m[name]; in {
				found = true
				if !has {
					if v, ok = fastArg(raw); !ok {
						return fastValue{}, false
					}
				}
			}
		default: // not a record or an entity: a type error
			return fastValue{}, false
		}
		if has {
			return fastValue{kind: fastBool, b: found}, true
		}
		if !found {
			return fastValue{}, false
		}
		return v, true
	}
}

// fastArg is the fast value of one JSON argument, converted as toValue
// would; decimals and arrays are left to Cedar.
func fastArg(raw any) (fastValue, bool) {
	switch x := raw.(type) {
	case nil:
		// nullValue, an entity no request holds: the entity rules above
		// (no attributes, no parent) are Cedar's for it.
		return fastValue{kind: fastEntity, s: nullType}, true
	case string:
		return fastValue{kind: fastString, s: x}, true
	case bool:
		return fastValue{kind: fastBool, b: x}, true
	case map[string]any:
		if x == nil {
			x = map[string]any{}
		}
		return fastValue{kind: fastRecord, m: x}, true
	case json.Number:
		if n, ok := plainInt(string(x)); ok {
			return fastValue{kind: fastLong, n: n}, true
		}
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return fastValue{kind: fastLong, n: int64(x)}, true
		}
	case int:
		return fastValue{kind: fastLong, n: int64(x)}, true
	case int64:
		return fastValue{kind: fastLong, n: x}, true
	}
	// A number in another form may still be a Long (1e2), or a decimal:
	// let toValue say which.
	v, err := toValue(raw)
	if err != nil {
		return fastValue{}, false
	}
	if n, ok := v.(types.Long); ok {
		return fastValue{kind: fastLong, n: int64(n)}, true
	}
	return fastValue{}, false
}

// plainInt parses a JSON integer without fraction or exponent that fits
// an int64: JSON's syntax (no "+", no leading zero), not ParseInt's.
func plainInt(s string) (int64, bool) {
	d := strings.TrimPrefix(s, "-")
	if d == "" || (d[0] == '0' && len(d) > 1) {
		return 0, false
	}
	for i := range len(d) {
		if !isDigit(d[i]) {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// convertible reports whether toValue would convert v without an error,
// without building anything for the common values.
func convertible(v any) bool {
	switch x := v.(type) {
	case nil, bool, string, int, int8, int16, int32, int64, uint8, uint16, uint32:
		return true
	case json.Number:
		if _, ok := plainInt(string(x)); ok {
			return true
		}
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return true
		}
	case map[string]any:
		for _, e := range x {
			if !convertible(e) {
				return false
			}
		}
		return true
	case []any:
		for _, e := range x {
			if !convertible(e) {
				return false
			}
		}
		return true
	}
	_, err := toValue(v)
	return err == nil
}
