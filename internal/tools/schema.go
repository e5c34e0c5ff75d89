package tools

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"

	"github.com/google/jsonschema-go/jsonschema"
)

// CompileSchema compiles a tool's input schema (a value that encodes to a
// JSON Schema object) for checking arguments: what the gateway checks
// every call with, and the tenant file's check that it can. Only the
// schema itself is used: a $ref to anything outside it fails. Its error
// says what is wrong in JSON Schema's terms, naming no Go type.
func CompileSchema(schema any) (*jsonschema.Resolved, error) {
	raw, err := json.Marshal(schema)
	if err != nil {
		return nil, errors.New("is not JSON")
	}
	var tree any
	if err := json.Unmarshal(raw, &tree); err != nil {
		return nil, errors.New("is not JSON")
	}
	if nesting(tree, MaxSchemaDepth) > MaxSchemaDepth {
		// The schema library decodes each level of a schema again for
		// every level above it: a schema some thousands of levels deep
		// (a few tens of KB) costs it gigabytes and most of a minute.
		return nil, fmt.Errorf("is nested more than %d levels deep", MaxSchemaDepth)
	}
	if err := keywordsExact(tree, "the schema"); err != nil {
		return nil, err
	}
	var s jsonschema.Schema
	if err := json.Unmarshal(raw, &s); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			// The decoder names its own types in the path.
			where := strings.ReplaceAll(te.Field, "schemaWithoutMethods.", "")
			if where == "" {
				where = "the schema"
			}
			return nil, fmt.Errorf("%s must be %s, not %s", where, jsonKind(te.Type), te.Value)
		}
		return nil, errors.New("is not a JSON Schema")
	}
	r, err := s.Resolve(nil)
	if err != nil {
		msg := err.Error()
		for _, p := range []string{"jsonschema.Schema: ", "<anonymous schema>: ", "schema: "} {
			msg = strings.TrimPrefix(msg, p)
		}
		return nil, errors.New(msg)
	}
	return r, nil
}

// MaxSchemaDepth bounds how deep the objects and arrays of an input schema
// may nest. A schema of objects ten deep, each under properties, nests
// twenty; no tool's arguments come near a hundred.
const MaxSchemaDepth = 100

// nesting returns how deep the objects and arrays of v (as encoding/json
// decodes into an any) nest, looking no deeper than limit+1 levels: a
// value that is neither is 0 deep, and the result is at most limit+1.
func nesting(v any, limit int) int {
	var elems []any
	switch v := v.(type) {
	case map[string]any:
		if limit == 0 {
			return 1
		}
		for _, e := range v {
			elems = append(elems, e)
		}
	case []any:
		elems = v
	default:
		return 0
	}
	deepest := 0
	for _, e := range elems {
		if limit == 0 || deepest >= limit {
			break
		}
		deepest = max(deepest, nesting(e, limit-1))
	}
	return deepest + 1
}

// jsonKind names the JSON kind a Go type decodes from.
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		return "an array"
	}
	return "an object"
}

// JSON Schema keywords are case-sensitive ("Maximum" is no keyword, and
// a validator ignores it), but the schema library decodes a schema with
// encoding/json, which matches a key to a keyword whatever its case (and
// Unicode folding), the last one winning: {"maxLength": 3, "maxlength":
// 300} was enforced with 300, and {"additionalProperties": false,
// "additionalproperties": true} took any argument, while an admin
// reading them, or any other validator, sees 3 and none.
// keywordsExact refuses such keys, wherever a schema is (at the root and
// in the keywords that hold schemas); the names under properties and the
// values of const, enum and default are data, and may be spelt anyhow.

// schemaKeywords are the keywords the library knows, by their exact
// spelling.
var schemaKeywords = sync.OnceValue(func() map[string]bool {
	m := map[string]bool{}
	var add func(t reflect.Type)
	add = func(t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			if f.Anonymous {
				ft := f.Type
				if ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				add(ft)
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name != "" && name != "-" && f.IsExported() {
				m[name] = true
			}
		}
	}
	add(reflect.TypeFor[jsonschema.Schema]())
	// Decoded by the library's UnmarshalJSON, into fields it hides.
	m["items"], m["dependencies"], m["type"] = true, true, true
	return m
})

// Keywords whose value is a schema, a list of schemas, or an object of
// schemas by name.
var (
	schemaValued = map[string]bool{"additionalItems": true, "additionalProperties": true, "contains": true,
		"contentSchema": true, "else": true, "if": true, "items": true, "not": true, "propertyNames": true,
		"then": true, "unevaluatedItems": true, "unevaluatedProperties": true}
	schemaListed = map[string]bool{"allOf": true, "anyOf": true, "oneOf": true, "prefixItems": true, "items": true}
	schemaNamed  = map[string]bool{"$defs": true, "definitions": true, "dependentSchemas": true,
		"patternProperties": true, "properties": true, "dependencies": true}
)

// keywordsExact returns an error naming the first key of the schema v
// (at where) that matches a keyword only by folding case.
func keywordsExact(v any, where string) error {
	obj, ok := v.(map[string]any)
	if !ok {
		return nil // true, false, or what decoding refuses anyway
	}
	kws := schemaKeywords()
	for k, sub := range obj {
		if !kws[k] {
			for kw := range kws {
				if strings.EqualFold(k, kw) {
					return fmt.Errorf("%s has %q, which is not a JSON Schema keyword: keywords are case-sensitive (%q)", where, k, kw)
				}
			}
			continue // an unknown keyword: ignored, as JSON Schema says
		}
		at := where + "/" + k
		var err error
		switch list, isList := sub.([]any); {
		case schemaListed[k] && isList:
			for i, s := range list {
				if err = keywordsExact(s, fmt.Sprintf("%s/%d", at, i)); err != nil {
					break
				}
			}
		case schemaNamed[k]:
			if named, ok := sub.(map[string]any); ok {
				for name, s := range named {
					if err = keywordsExact(s, at+"/"+name); err != nil {
						break
					}
				}
			}
		case schemaValued[k]:
			err = keywordsExact(sub, at)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
