package tools

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"

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
