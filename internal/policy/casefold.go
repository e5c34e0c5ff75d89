package policy

// A condition reads an argument by its exact name: context.args.force
// finds "force" and nothing else. A backend may read names without regard
// to case: Go's encoding/json matches a struct field case-insensitively
// (under Unicode simple folding: "Force" and "FORCE" fill force, and
// "ſcope", with a long s, fills scope), and so do the decoders built on
// it. The gateway already refuses
// two keys of one object that fold together; a key alone, spelled in
// another case, would slip past the condition (`!(context.args has
// force)` is true for {"Force": true}) and reach the backend as force.
//
// So Decide refuses arguments in which a key, at any depth, is not one of
// the names the condition reads but folds to one of them. The names are
// every attribute the condition accesses or tests with `has`, and every
// key of a record literal in it (`context.args.opts != {force: true}`),
// except the attributes of principal, resource, action, context and
// context.agent, which no argument can be: an over-approximation, which
// can only refuse more. They are folded once, when the condition is
// compiled. A tool without a condition, or whose condition reads no
// argument, is not checked: nothing about its arguments is decided. A
// tool's input_schema is not this package's to know (a Rule carries
// none), so its property names are not among the names.

import (
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/cedar-policy/cedar-go/types"
	"github.com/cedar-policy/cedar-go/x/exp/ast"

	"github.com/gatehouse/gatehouse/internal/casefold"
)

// argNames are the names a condition may read an argument by, grouped
// by their fold.
type argNames struct {
	groups []nameGroup
	// lens has bit n set when a fold is n bytes long (bit 63: 63 or
	// more), so that most keys are passed over by their length alone.
	lens uint64
}

// nameGroup is the names of one fold.
type nameGroup struct {
	fold  string
	names []string
}

func lenBit(n int) uint64 { return 1 << min(n, 63) }

// readNames returns the names of body (see above), nil when there are
// none.
func readNames(body ast.IsNode) *argNames {
	var an argNames
	add := func(name string) {
		f := casefold.Key(name)
		for i := range an.groups {
			if g := &an.groups[i]; g.fold == f {
				if !slices.Contains(g.names, name) {
					g.names = append(g.names, name)
				}
				return
			}
		}
		an.groups = append(an.groups, nameGroup{fold: f, names: []string{name}})
		an.lens |= lenBit(len(f))
	}
	var addValue func(v types.Value)
	addValue = func(v types.Value) {
		switch v := v.(type) {
		case types.Record:
			for k, e := range v.All() {
				add(string(k))
				addValue(e)
			}
		case types.Set:
			for e := range v.All() {
				addValue(e)
			}
		}
	}
	ast.Inspect(ast.NewNode(body), func(n ast.IsNode) bool {
		switch n := n.(type) {
		case ast.NodeTypeAccess:
			if !outsideArgs(n.Arg) {
				add(string(n.Value))
			}
		case ast.NodeTypeHas:
			if !outsideArgs(n.Arg) {
				add(string(n.Value))
			}
		case ast.NodeTypeRecord:
			for _, el := range n.Elements {
				add(string(el.Key))
			}
		case ast.NodeValue:
			addValue(n.Value)
		}
		return true
	})
	if len(an.groups) == 0 {
		return nil
	}
	return &an
}

// outsideArgs reports whether the attributes of n can be no argument's:
// n is principal, resource, action or context, an entity literal, or
// context.agent.
func outsideArgs(n ast.IsNode) bool {
	switch n := n.(type) {
	case ast.NodeTypeVariable:
		return true
	case ast.NodeValue:
		_, ok := n.Value.(types.EntityUID)
		return ok
	case ast.NodeTypeAccess:
		return isContext(n.Arg) && n.Value == "agent"
	}
	return false
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// caseVariant is the reason to refuse args, "" when no key of theirs, at
// any depth, differs from a name the condition reads only by case. Of
// several such keys it names the smallest, so that the reason does not
// depend on map order. It quotes the key, which is the condition's own
// name but for its case.
func (c *condition) caseVariant(args map[string]any) string {
	if c.names == nil || len(args) == 0 {
		return ""
	}
	var key, name string
	found := false
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				if n, ok := c.names.variantOf(k); ok && (!found || k < key) {
					key, name, found = k, n, true
				}
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(args)
	if !found {
		return ""
	}
	return "argument key " + strconv.Quote(key) + " differs only by case from " + strconv.Quote(name) + ", which condition `" + c.text + "` reads"
}

// has reports whether k is one of the names, exactly; a nil an has none.
func (an *argNames) has(k string) bool {
	if an == nil {
		return false
	}
	for i := range an.groups {
		if slices.Contains(an.groups[i].names, k) {
			return true
		}
	}
	return false
}

// variantOf returns the name that k folds to, when k is not itself one
// of the names. An ASCII key, the usual one, folds to a string of its own
// length, and is compared without building its fold.
func (an *argNames) variantOf(k string) (string, bool) {
	var g *nameGroup
	if isASCII(k) {
		if an.lens&lenBit(len(k)) == 0 {
			return "", false
		}
		for i := range an.groups {
			if f := an.groups[i].fold; len(f) == len(k) && upperASCIIEqual(k, f) {
				g = &an.groups[i]
				break
			}
		}
	} else {
		f := casefold.Key(k)
		for i := range an.groups {
			if an.groups[i].fold == f {
				g = &an.groups[i]
				break
			}
		}
	}
	if g == nil || slices.Contains(g.names, k) {
		return "", false
	}
	return g.names[0], true
}

// upperASCIIEqual reports whether the ASCII k, upper-cased, is f.
func upperASCIIEqual(k, f string) bool {
	for i := 0; i < len(k); i++ {
		b := k[i]
		if 'a' <= b && b <= 'z' {
			b -= 'a' - 'A'
		}
		if b != f[i] {
			return false
		}
	}
	return true
}
