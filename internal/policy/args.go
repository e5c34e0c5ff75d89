package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/cedar-policy/cedar-go"
)

// argsRecord converts decoded JSON arguments into a Cedar record. It refuses
// rather than approximates: a number that is neither a Long nor a decimal
// (four decimal places) is an error, as is a Go type JSON does not produce.
func argsRecord(args map[string]any) (cedar.Record, error) {
	v, err := toValue(args)
	if err != nil {
		if _, ok := err.(*argError); !ok {
			err = &argError{err: err}
		}
		return cedar.Record{}, err
	}
	return v.(cedar.Record), nil
}

// nullValue is JSON null in Cedar, which has no null: the entity
// Null::"", a value of its own type. A member whose value is null is
// there (`has` is true), as it is for the backend, to which it may mean
// something (under JSON Merge Patch, RFC 7396, it removes the member); it
// equals no string, number or boolean; an ordering or arithmetic on it is
// a type error, which denies; a list holding it contains something no
// list of other literals does. A condition can ask `context.args.x is
// Null`. No entity of that type is in a request's entities, so it has no
// attributes and no parent.
var nullValue = cedar.NewEntityUID(nullType, "")

// nullType is the entity type of nullValue.
const nullType = "Null"

// argError is an error of the value at a path below args
// (args.items[2].price).
type argError struct {
	segs []argSeg // innermost first
	err  error
}

// argSeg is one step of an argError's path: a member's key, or an
// element's index.
type argSeg struct {
	key   string
	index int
	isKey bool
}

func (e *argError) Error() string { return e.path(nil) + ": " + e.err.Error() }
func (e *argError) Unwrap() error { return e.err }

// path is the place of the failing value, from args down. A key for which
// shown is false is written "…": a key is the caller's data as much as a
// value is (an object used as a map, keyed by card numbers or addresses),
// and a reason may name only the keys a condition reads. A nil shown
// shows every key.
func (e *argError) path(shown func(string) bool) string {
	var b strings.Builder
	b.WriteString("args")
	for i := len(e.segs) - 1; i >= 0; i-- {
		switch s := e.segs[i]; {
		case !s.isKey:
			b.WriteString("[" + strconv.Itoa(s.index) + "]")
		case shown == nil || shown(s.key):
			b.WriteString("." + s.key)
		default:
			b.WriteString(".…")
		}
	}
	return b.String()
}

// under puts err below seg: the path is built only for an error, on the
// way out, not for every value converted.
func under(seg argSeg, err error) error {
	ae, ok := err.(*argError)
	if !ok {
		ae = &argError{err: err}
	}
	ae.segs = append(ae.segs, seg)
	return ae
}

// toValue converts v into a Cedar value, JSON null into nullValue. An
// error names the failing value's place inside v (see under).
func toValue(v any) (cedar.Value, error) {
	switch v := v.(type) {
	case nil:
		return nullValue, nil
	case bool:
		return cedar.Boolean(v), nil
	case string:
		return cedar.String(v), nil
	case json.Number:
		n, err := numberValue(string(v))
		if err != nil {
			return nil, err
		}
		return n, nil
	case float64:
		n, err := floatValue(v, 64)
		if err != nil {
			return nil, err
		}
		return n, nil
	case float32:
		n, err := floatValue(float64(v), 32)
		if err != nil {
			return nil, err
		}
		return n, nil
	case int:
		return cedar.Long(v), nil
	case int8:
		return cedar.Long(v), nil
	case int16:
		return cedar.Long(v), nil
	case int32:
		return cedar.Long(v), nil
	case int64:
		return cedar.Long(v), nil
	case uint8:
		return cedar.Long(v), nil
	case uint16:
		return cedar.Long(v), nil
	case uint32:
		return cedar.Long(v), nil
	case uint:
		return uintValue(uint64(v))
	case uint64:
		return uintValue(v)
	case []any:
		elems := make([]cedar.Value, 0, len(v))
		for i, e := range v {
			ev, err := toValue(e)
			if err != nil {
				return nil, under(argSeg{index: i}, err)
			}
			elems = append(elems, ev)
		}
		return cedar.NewSet(elems...), nil
	case map[string]any:
		if v == nil {
			return emptyRecord, nil
		}
		rec := make(cedar.RecordMap, len(v))
		for k, e := range v {
			ev, err := toValue(e)
			if err != nil {
				return nil, firstError(v, k, err)
			}
			rec[cedar.String(k)] = ev
		}
		return cedar.NewRecord(rec), nil
	default:
		return nil, fmt.Errorf("unsupported value of type %T", v)
	}
}

// firstError is the error of v's first failing key in sorted order, so that
// the reason a call was refused does not depend on map order; err is the
// error already found at key k.
func firstError(v map[string]any, k string, err error) error {
	for k2, e := range v {
		if k2 < k {
			if _, err2 := toValue(e); err2 != nil {
				k, err = k2, err2
			}
		}
	}
	return under(argSeg{key: k, isKey: true}, err)
}

func uintValue(u uint64) (cedar.Value, error) {
	if u > math.MaxInt64 {
		return nil, errors.New("an integer out of the range of a Cedar Long")
	}
	return cedar.Long(u), nil
}

// floatValue converts a float through its shortest decimal form, the text a
// JSON encoder would write, so 0.1 stays 0.1 rather than its binary
// neighbour.
func floatValue(f float64, bits int) (cedar.Value, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, errors.New("a number Cedar cannot represent")
	}
	return numberValue(strconv.FormatFloat(f, 'g', -1, bits))
}

// maxDigits bounds the digits of a number before any big arithmetic: an
// int64 has at most 19.
const maxDigits = 19

// numberValue converts the text of a JSON number: an integer becomes a Long,
// a number with at most four decimal places a decimal; anything else is an
// error. It parses by hand so that a hostile exponent such as 1e999999999
// costs nothing. Its errors, like the others here, name no value: they
// become a decision's reasons, in the audit trail, which keeps argument
// values only when the tenant opts in.
func numberValue(s string) (cedar.Value, error) {
	neg, digits, exp, ok := splitNumber(s)
	if !ok {
		return nil, errors.New("not a JSON number")
	}
	if n, ok := plainInt(s); ok {
		return cedar.Long(n), nil
	}
	digits = strings.TrimLeft(digits, "0")
	if digits == "" {
		return cedar.Long(0), nil
	}
	trimmed := strings.TrimRight(digits, "0")
	exp += len(digits) - len(trimmed)
	digits = trimmed
	sign := ""
	if neg {
		sign = "-"
	}
	switch {
	case exp >= 0:
		if len(digits)+exp > maxDigits {
			return nil, errors.New("an integer out of the range of a Cedar Long")
		}
		n, err := strconv.ParseInt(sign+digits+strings.Repeat("0", exp), 10, 64)
		if err != nil {
			return nil, errors.New("an integer out of the range of a Cedar Long")
		}
		return cedar.Long(n), nil
	case exp >= -4:
		scale := exp + 4 // digits × 10^scale is the value in ten-thousandths
		if len(digits)+scale > maxDigits {
			return nil, errors.New("a number out of the range of a Cedar decimal")
		}
		n, err := strconv.ParseInt(sign+digits+strings.Repeat("0", scale), 10, 64)
		if err != nil {
			return nil, errors.New("a number out of the range of a Cedar decimal")
		}
		d, err := cedar.NewDecimal(n, -4)
		if err != nil {
			return nil, errors.New("a number out of the range of a Cedar decimal")
		}
		return d, nil
	default:
		return nil, errors.New("a number with more than 4 decimal places, beyond a Cedar decimal")
	}
}

// splitNumber parses JSON number syntax (RFC 8259 section 6) into a sign,
// its significant digits and the power of ten they are scaled by. An
// exponent too large to matter is clamped, keeping its sign.
func splitNumber(s string) (neg bool, digits string, exp int, ok bool) {
	i := 0
	if i < len(s) && s[i] == '-' {
		neg = true
		i++
	}
	start := i
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	default:
		return false, "", 0, false
	}
	digits = s[start:i]
	if i < len(s) && s[i] == '.' {
		i++
		fs := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		if i == fs {
			return false, "", 0, false
		}
		digits += s[fs:i]
		exp -= i - fs
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		eneg := false
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			eneg = s[i] == '-'
			i++
		}
		es := i
		e := 0
		for i < len(s) && isDigit(s[i]) {
			if e < 1_000_000 {
				e = e*10 + int(s[i]-'0')
			}
			i++
		}
		if i == es {
			return false, "", 0, false
		}
		if eneg {
			e = -e
		}
		exp += e
	}
	if i != len(s) {
		return false, "", 0, false
	}
	return neg, digits, exp, true
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }
