package tools

// JSON Schema matches property names exactly: "properties": {"amount":
// {"maximum": 50}} bounds "amount" and says nothing of "Amount", which an
// object the schema leaves open takes as any other member. An API that
// decodes its body with Go's encoding/json (as a Go tool decodes what
// slipverify.VerifyRequest hands it) matches a field to a member whatever
// its case, under Unicode simple folding ("Amount", "AMOUNT"; "ſku", with
// a long s, for "sku"), and reads {"Amount": 5000} as amount=5000. The
// canonical form already refuses two members of one object that fold
// together; PropertyNames closes the case of one member alone: the
// property names a schema declares, so that arguments naming one of them
// in another spelling are refused before any slip is minted.

import (
	"encoding/json"

	"github.com/gatehouse/gatehouse/internal/casefold"
)

// PropertyNames are the property names an input schema declares anywhere
// in it (the keys of properties, dependentSchemas, dependentRequired and
// dependencies, and the names required lists), whatever object they are
// declared for: an over-approximation, which can only refuse more.
type PropertyNames struct {
	exact map[string]bool
	folds map[string]string // fold → the smallest declared name of that fold
}

// SchemaNames returns the property names schema declares; nil when it
// declares none, or is not JSON. schema is what CompileSchema takes.
func SchemaNames(schema any) *PropertyNames {
	var tree any
	if raw, err := json.Marshal(schema); err != nil || json.Unmarshal(raw, &tree) != nil {
		return nil
	}
	n := &PropertyNames{exact: map[string]bool{}, folds: map[string]string{}}
	n.addSchema(tree)
	if len(n.exact) == 0 {
		return nil
	}
	return n
}

func (n *PropertyNames) add(name string) {
	n.exact[name] = true
	f := casefold.Key(name)
	if prev, ok := n.folds[f]; !ok || name < prev {
		n.folds[f] = name
	}
}

// addStrings adds the strings of v, a list of names (required, the lists
// of dependentRequired and dependencies).
func (n *PropertyNames) addStrings(v any) {
	list, _ := v.([]any)
	for _, s := range list {
		if name, ok := s.(string); ok {
			n.add(name)
		}
	}
}

// addSchema adds the names declared in the schema v and in the schemas it
// holds, walking the keywords keywordsExact walks.
func (n *PropertyNames) addSchema(v any) {
	obj, ok := v.(map[string]any)
	if !ok {
		return
	}
	for k, sub := range obj {
		switch k {
		case "required":
			n.addStrings(sub)
		case "dependentRequired":
			if named, ok := sub.(map[string]any); ok {
				for name, list := range named {
					n.add(name)
					n.addStrings(list)
				}
			}
		}
		switch list, isList := sub.([]any); {
		case schemaListed[k] && isList:
			for _, s := range list {
				n.addSchema(s)
			}
		case schemaNamed[k]:
			named, ok := sub.(map[string]any)
			if !ok {
				break
			}
			declares := k == "properties" || k == "dependentSchemas" || k == "dependencies"
			for name, s := range named {
				if declares {
					n.add(name)
				}
				if k == "dependencies" {
					n.addStrings(s) // a list of names, or a schema
				}
				n.addSchema(s)
			}
		case schemaValued[k]:
			n.addSchema(sub)
		}
	}
}

// Variant returns a member name of args (decoded JSON), at any depth, that
// is not a declared name but equals one under Unicode simple case
// folding, and that declared name. Of several, it returns the smallest
// member name, so the answer does not depend on map order.
func (n *PropertyNames) Variant(args any) (key, name string, found bool) {
	if n == nil {
		return "", "", false
	}
	n.variant(args, &key, &name, &found)
	return key, name, found
}

func (n *PropertyNames) variant(v any, key, name *string, found *bool) {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if !n.exact[k] {
				if decl, ok := n.folds[casefold.Key(k)]; ok && (!*found || k < *key) {
					*key, *name, *found = k, decl, true
				}
			}
			n.variant(e, key, name, found)
		}
	case []any:
		for _, e := range v {
			n.variant(e, key, name, found)
		}
	}
}
