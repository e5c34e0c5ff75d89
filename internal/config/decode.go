package config

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// decode sets v from n, a tree check found no problem in, and adds to errs
// what the YAML decoder says of a value ("line 3: cannot unmarshal …").
//
// It walks the tree as check does, once per node, and leaves each scalar
// to the YAML decoder, which reads it as it always did: decoding the whole
// file with it compared every key of a mapping with every other (its own
// check for keys given twice, which check has done already): a 1 MB file
// of one mapping of names took 15 seconds.
func decode(n *yaml.Node, v reflect.Value, errs *[]string) {
	if isNull(n) {
		return // the zero value, as the decoder leaves it
	}
	t := v.Type()
	switch {
	case t.Kind() == reflect.Pointer:
		p := reflect.New(t.Elem())
		decode(n, p.Elem(), errs)
		v.Set(p)
	case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			f, ok := fieldByTag(t, k.Value)
			if !ok || k.Kind != yaml.ScalarNode {
				*errs = append(*errs, fmt.Sprintf("line %d: field %s not found in type %s", k.Line, k.Value, t))
				continue
			}
			decode(n.Content[i+1], v.FieldByIndex(f.Index), errs)
		}
	case t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
		s := reflect.MakeSlice(t, len(n.Content), len(n.Content))
		for i, c := range n.Content {
			decode(c, s.Index(i), errs)
		}
		v.Set(s)
	case t.Kind() == reflect.Map && n.Kind == yaml.MappingNode:
		m := reflect.MakeMapWithSize(t, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			if isNull(n.Content[i]) {
				continue // the decoder drops it (check refuses it but in an input schema)
			}
			k, e := reflect.New(t.Key()).Elem(), reflect.New(t.Elem()).Elem()
			decode(n.Content[i], k, errs)
			decode(n.Content[i+1], e, errs)
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case t == anyType && n.Kind != yaml.ScalarNode:
		if a := decodeAny(n, errs); a != nil {
			v.Set(reflect.ValueOf(a))
		}
	case n.Kind == yaml.ScalarNode && t == stringType && n.ShortTag() != "!!binary":
		// As the decoder reads it, without a decoder (and its
		// allocations) for each of a file's strings.
		v.SetString(n.Value)
	case n.Kind == yaml.ScalarNode && t == anyType && n.ShortTag() == "!!str":
		v.Set(reflect.ValueOf(n.Value))
	default:
		// A scalar, or what check would have refused: the decoder's.
		if err := n.Decode(v.Addr().Interface()); err != nil {
			*errs = append(*errs, decodeErrors(n, err)...)
		}
	}
}

var (
	stringType = reflect.TypeFor[string]()
	anyType    = reflect.TypeFor[any]()
)

// decodeAny reads a mapping or a list of any YAML (a tool's input schema)
// as the decoder reads it into an any: a mapping whose keys are all
// strings as a map[string]any, any other as a map[any]any.
func decodeAny(n *yaml.Node, errs *[]string) any {
	switch n.Kind {
	case yaml.SequenceNode:
		s := make([]any, len(n.Content))
		for i, c := range n.Content {
			decode(c, reflect.ValueOf(&s[i]).Elem(), errs)
		}
		return s
	case yaml.MappingNode:
		var m reflect.Value
		if stringKeys(n) {
			m = reflect.ValueOf(make(map[string]any, len(n.Content)/2))
		} else {
			m = reflect.ValueOf(make(map[any]any, len(n.Content)/2))
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, e := reflect.New(m.Type().Key()).Elem(), reflect.New(m.Type().Elem()).Elem()
			decode(n.Content[i], k, errs)
			if kk := k.Kind(); kk == reflect.Interface && !k.IsNil() && !k.Elem().Type().Comparable() {
				*errs = append(*errs, fmt.Sprintf("line %d: invalid map key: %#v", n.Content[i].Line, k.Interface()))
				continue
			}
			decode(n.Content[i+1], e, errs)
			m.SetMapIndex(k, e)
		}
		return m.Interface()
	}
	var a any
	if err := n.Decode(&a); err != nil {
		*errs = append(*errs, decodeErrors(n, err)...)
	}
	return a
}

// stringKeys reports whether every key of the mapping n is a string.
func stringKeys(n *yaml.Node) bool {
	for i := 0; i < len(n.Content); i += 2 {
		if n.Content[i].ShortTag() != "!!str" {
			return false
		}
	}
	return true
}

// fieldByTag returns t's field named name by its yaml tag.
func fieldByTag(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); tag == name && tag != "" && tag != "-" {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// decodeErrors is err of the decoder as lines "line N: message".
func decodeErrors(n *yaml.Node, err error) []string {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return te.Errors
	}
	return []string{fmt.Sprintf("line %d: %s", n.Line, cleanYAMLError(err))}
}
