package policy

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/cedar-policy/cedar-go"
)

// FuzzFastArgIsToValue: at any depth of decoded JSON arguments (numbers
// as json.Number or as float64), convertible says exactly whether
// toValue converts a value, and a value the fast path reads (fastArg) is
// the one toValue gives Cedar.
func FuzzFastArgIsToValue(f *testing.F) {
	for _, s := range []string{
		`{"n":1,"f":1.5,"e":1e2,"z":-0,"b":9223372036854775808,"s":"x","t":true,"nul":null,"l":[1,"a",null],"r":{"x":{}}}`,
		`{"n":9007199254740993,"m":-9223372036854775808,"d":0.00001,"big":1e400,"small":1e-400}`,
		`{"a":1.0000,"b":100e-2,"c":5E+1,"d":-0.0,"e":12345678901234567890}`,
	} {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, in []byte, useNumber bool) {
		dec := json.NewDecoder(bytes.NewReader(in))
		if useNumber {
			dec.UseNumber()
		}
		var args map[string]any
		if dec.Decode(&args) != nil {
			return
		}
		var walk func(v any)
		walk = func(v any) {
			cv, err := toValue(v)
			if got := convertible(v); got != (err == nil) {
				t.Fatalf("%s: convertible(%#v) is %v, toValue's error %v", in, v, got, err)
			}
			if fv, ok := fastArg(v); ok && fv.kind != fastRecord {
				if err != nil {
					t.Fatalf("%s: fastArg(%#v) is %+v, toValue fails: %v", in, v, fv, err)
				}
				if want := fromFast(fv); !want.Equal(cv) {
					t.Fatalf("%s: fastArg(%#v) is %v, toValue %v", in, v, want, cv)
				}
			}
			switch v := v.(type) {
			case map[string]any:
				for _, e := range v {
					walk(e)
				}
			case []any:
				for _, e := range v {
					walk(e)
				}
			}
		}
		walk(args)
	})
}

// fromFast is the Cedar value of a scalar fast value.
func fromFast(v fastValue) cedar.Value {
	switch v.kind {
	case fastBool:
		return cedar.Boolean(v.b)
	case fastLong:
		return cedar.Long(v.n)
	case fastString:
		return cedar.String(v.s)
	case fastEntity:
		return cedar.NewEntityUID(cedar.EntityType(v.s), cedar.String(v.s2))
	}
	return nil
}
