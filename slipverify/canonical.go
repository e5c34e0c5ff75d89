package slipverify

// Canonical JSON, after RFC 8785 (JCS): object members sorted by their
// names' UTF-16 code units, no insignificant whitespace, strings with the
// minimal escapes, numbers in the ECMAScript shortest form. It is stricter
// than JCS in three ways, each closing a gap between what a policy checks
// and what a backend runs:
//
//   - a name repeated in one object is an error (JSON leaves the meaning of
//     duplicates to each parser: some keep the first, most the last);
//   - two names of one object that are equal under Unicode simple case
//     folding ("amount" and "Amount", "scope" and "ſcope") are an error, as
//     case-insensitive decoders (Go's encoding/json among them) would read
//     either into the same field;
//   - an integer written without fraction or exponent must be exact in a
//     64-bit float (|n| ≤ 2^53, as I-JSON, RFC 7493, asks) unless it is
//     already in canonical form, so a number is never silently rounded
//     between the check and the call.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// ErrNotCanonicalizable reports input that has no canonical form: it is not
// JSON, or it breaks one of the rules above. Errors from Canonical wrap it.
var ErrNotCanonicalizable = errors.New("arguments are not canonicalizable JSON")

// maxDepth bounds nesting, so hostile input cannot exhaust the stack.
const maxDepth = 64

// Canonical returns the canonical form of the JSON text raw. Empty input
// (no arguments at all) canonicalizes to {}. Canonical is idempotent:
// Canonical(Canonical(x)) equals Canonical(x).
func Canonical(raw []byte) ([]byte, error) {
	p := parser{in: raw}
	p.skipSpace()
	if p.i == len(p.in) {
		return []byte("{}"), nil
	}
	out := make([]byte, 0, len(raw))
	out, err := p.value(out, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotCanonicalizable, err)
	}
	p.skipSpace()
	if p.i != len(p.in) {
		return nil, fmt.Errorf("%w: data after the value at offset %d", ErrNotCanonicalizable, p.i)
	}
	return out, nil
}

// Digest returns the lowercase hexadecimal SHA-256 of canonical JSON, the
// args_sha256 of a slip. Pass it the output of Canonical.
func Digest(canonical []byte) string {
	h := hexDigest(canonical)
	return string(h[:])
}

// digestIs reports whether want is Digest(b), without allocating.
func digestIs(b []byte, want string) bool {
	h := hexDigest(b)
	return string(h[:]) == want
}

// hexDigest is the lowercase hex SHA-256 of b, on the stack
// (hex.EncodeToString would allocate twice).
func hexDigest(b []byte) [2 * sha256.Size]byte {
	sum := sha256.Sum256(b)
	var h [2 * sha256.Size]byte
	hex.Encode(h[:], sum[:])
	return h
}

// ArgsDigest canonicalizes raw and returns its Digest.
func ArgsDigest(raw []byte) (string, error) {
	c, err := Canonical(raw)
	if err != nil {
		return "", err
	}
	return Digest(c), nil
}

type parser struct {
	in []byte
	i  int
}

func (p *parser) skipSpace() {
	for p.i < len(p.in) {
		switch p.in[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *parser) errorf(format string, args ...any) error {
	return fmt.Errorf("offset %d: %s", p.i, fmt.Sprintf(format, args...))
}

func (p *parser) value(out []byte, depth int) ([]byte, error) {
	if depth > maxDepth {
		return nil, p.errorf("nested deeper than %d", maxDepth)
	}
	p.skipSpace()
	if p.i >= len(p.in) {
		return nil, p.errorf("unexpected end of input")
	}
	switch c := p.in[p.i]; {
	case (c == '{' || c == '[') && depth >= maxDepth:
		// Containers nest maxDepth deep at most, empty or not.
		return nil, p.errorf("nested deeper than %d", maxDepth)
	case c == '{':
		return p.object(out, depth)
	case c == '[':
		return p.array(out, depth)
	case c == '"':
		s, err := p.str()
		if err != nil {
			return nil, err
		}
		return appendString(out, s), nil
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number(out)
	case p.literal("true"):
		return append(out, "true"...), nil
	case p.literal("false"):
		return append(out, "false"...), nil
	case p.literal("null"):
		return append(out, "null"...), nil
	}
	return nil, p.errorf("unexpected character %q", p.in[p.i])
}

func (p *parser) literal(word string) bool {
	if bytes.HasPrefix(p.in[p.i:], []byte(word)) {
		p.i += len(word)
		return true
	}
	return false
}

type member struct {
	name  string
	key   []uint16 // name in UTF-16, the JCS sort key
	value []byte   // canonical
}

func (p *parser) object(out []byte, depth int) ([]byte, error) {
	p.i++ // {
	var members []member
	folded := map[string]string{}
	p.skipSpace()
	if p.i < len(p.in) && p.in[p.i] == '}' {
		p.i++
		return append(out, "{}"...), nil
	}
	for {
		p.skipSpace()
		if p.i >= len(p.in) || p.in[p.i] != '"' {
			return nil, p.errorf("expected a member name")
		}
		name, err := p.str()
		if err != nil {
			return nil, err
		}
		f := foldKey(name)
		if prev, dup := folded[f]; dup {
			if prev == name {
				return nil, p.errorf("member %q appears twice", name)
			}
			return nil, p.errorf("members %q and %q differ only by case", prev, name)
		}
		folded[f] = name
		p.skipSpace()
		if p.i >= len(p.in) || p.in[p.i] != ':' {
			return nil, p.errorf("expected ':'")
		}
		p.i++
		v, err := p.value(nil, depth+1)
		if err != nil {
			return nil, err
		}
		members = append(members, member{name: name, key: utf16.Encode([]rune(name)), value: v})
		p.skipSpace()
		if p.i >= len(p.in) {
			return nil, p.errorf("unterminated object")
		}
		if p.in[p.i] == ',' {
			p.i++
			continue
		}
		if p.in[p.i] == '}' {
			p.i++
			break
		}
		return nil, p.errorf("expected ',' or '}'")
	}
	slices.SortFunc(members, func(a, b member) int { return slices.Compare(a.key, b.key) })
	out = append(out, '{')
	for i, m := range members {
		if i > 0 {
			out = append(out, ',')
		}
		out = appendString(out, m.name)
		out = append(out, ':')
		out = append(out, m.value...)
	}
	return append(out, '}'), nil
}

func (p *parser) array(out []byte, depth int) ([]byte, error) {
	p.i++ // [
	out = append(out, '[')
	p.skipSpace()
	if p.i < len(p.in) && p.in[p.i] == ']' {
		p.i++
		return append(out, ']'), nil
	}
	for n := 0; ; n++ {
		if n > 0 {
			out = append(out, ',')
		}
		var err error
		if out, err = p.value(out, depth+1); err != nil {
			return nil, err
		}
		p.skipSpace()
		if p.i >= len(p.in) {
			return nil, p.errorf("unterminated array")
		}
		if p.in[p.i] == ',' {
			p.i++
			continue
		}
		if p.in[p.i] == ']' {
			p.i++
			return append(out, ']'), nil
		}
		return nil, p.errorf("expected ',' or ']'")
	}
}

// str reads a string token, decoding escapes. Invalid UTF-8 and lone
// surrogates are errors: JCS is defined over Unicode text only.
func (p *parser) str() (string, error) {
	p.i++ // "
	var b strings.Builder
	start := p.i
	for {
		if p.i >= len(p.in) {
			return "", p.errorf("unterminated string")
		}
		c := p.in[p.i]
		switch {
		case c == '"':
			b.Write(p.in[start:p.i])
			p.i++
			return b.String(), nil
		case c < 0x20:
			return "", p.errorf("control character in string")
		case c == '\\':
			b.Write(p.in[start:p.i])
			r, err := p.escape()
			if err != nil {
				return "", err
			}
			b.WriteRune(r)
			start = p.i
		case c < utf8.RuneSelf:
			p.i++
		default:
			r, size := utf8.DecodeRune(p.in[p.i:])
			if r == utf8.RuneError && size <= 1 {
				return "", p.errorf("invalid UTF-8")
			}
			p.i += size
		}
	}
}

func (p *parser) escape() (rune, error) {
	p.i++ // backslash
	if p.i >= len(p.in) {
		return 0, p.errorf("unterminated escape")
	}
	c := p.in[p.i]
	p.i++
	switch c {
	case '"', '\\', '/':
		return rune(c), nil
	case 'b':
		return '\b', nil
	case 'f':
		return '\f', nil
	case 'n':
		return '\n', nil
	case 'r':
		return '\r', nil
	case 't':
		return '\t', nil
	case 'u':
		r, err := p.hex4()
		if err != nil {
			return 0, err
		}
		if utf16.IsSurrogate(r) {
			if r >= 0xDC00 || !p.literal(`\u`) {
				return 0, p.errorf("lone surrogate")
			}
			r2, err := p.hex4()
			if err != nil {
				return 0, err
			}
			if r = utf16.DecodeRune(r, r2); r == unicode.ReplacementChar {
				return 0, p.errorf("lone surrogate")
			}
		}
		return r, nil
	}
	return 0, p.errorf("invalid escape")
}

func (p *parser) hex4() (rune, error) {
	if p.i+4 > len(p.in) {
		return 0, p.errorf("short \\u escape")
	}
	n, err := strconv.ParseUint(string(p.in[p.i:p.i+4]), 16, 16)
	if err != nil {
		return 0, p.errorf("invalid \\u escape")
	}
	p.i += 4
	return rune(n), nil
}

// number reads a JSON number and writes its ECMAScript form.
func (p *parser) number(out []byte) ([]byte, error) {
	start := p.i
	integer := true
	if p.in[p.i] == '-' {
		p.i++
	}
	switch {
	case p.i < len(p.in) && p.in[p.i] == '0':
		p.i++
	case p.i < len(p.in) && p.in[p.i] >= '1' && p.in[p.i] <= '9':
		p.digits()
	default:
		return nil, p.errorf("invalid number")
	}
	if p.i < len(p.in) && p.in[p.i] == '.' {
		integer = false
		p.i++
		if p.digits() == 0 {
			return nil, p.errorf("invalid number")
		}
	}
	if p.i < len(p.in) && (p.in[p.i] == 'e' || p.in[p.i] == 'E') {
		integer = false
		p.i++
		if p.i < len(p.in) && (p.in[p.i] == '+' || p.in[p.i] == '-') {
			p.i++
		}
		if p.digits() == 0 {
			return nil, p.errorf("invalid number")
		}
	}
	text := string(p.in[start:p.i])
	f, err := strconv.ParseFloat(text, 64)
	if err != nil { // out of range
		return nil, p.errorf("number %s does not fit a 64-bit float", text)
	}
	n := len(out)
	out = appendNumber(out, f)
	// An integer beyond 2^53 is refused unless it is already in canonical
	// form (which 64-bit floats read back as the same number).
	if integer && math.Abs(f) >= 1<<53 && string(out[n:]) != text {
		return nil, p.errorf("integer %s is beyond 2^53 and would lose precision", text)
	}
	return out, nil
}

func (p *parser) digits() int {
	n := 0
	for p.i < len(p.in) && p.in[p.i] >= '0' && p.in[p.i] <= '9' {
		p.i++
		n++
	}
	return n
}

// appendNumber writes f as ECMAScript's Number.prototype.toString does
// (RFC 8785 section 3.2.2.3).
func appendNumber(out []byte, f float64) []byte {
	if f == 0 {
		return append(out, '0') // also -0
	}
	if f < 0 {
		out = append(out, '-')
		f = -f
	}
	format := byte('e')
	if f >= 1e-6 && f < 1e21 {
		format = 'f'
	}
	n := len(out)
	out = strconv.AppendFloat(out, f, format, -1, 64)
	// Go writes exponents with at least two digits (1e+06); ECMAScript
	// with as few as needed (1e+6).
	if e := bytes.IndexByte(out[n:], 'e'); e >= 0 {
		e += n
		if out[e+2] == '0' {
			out = append(out[:e+2], out[e+3:]...)
		}
	}
	return out
}

// appendString writes s with JCS's escapes: the two-character forms for
// \b \t \n \f \r \" \\, \u00xx for other controls, everything else as is.
func appendString(out []byte, s string) []byte {
	const hexdigits = "0123456789abcdef"
	out = append(out, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		out = append(out, s[start:i]...)
		switch c {
		case '"', '\\':
			out = append(out, '\\', c)
		case '\b':
			out = append(out, '\\', 'b')
		case '\t':
			out = append(out, '\\', 't')
		case '\n':
			out = append(out, '\\', 'n')
		case '\f':
			out = append(out, '\\', 'f')
		case '\r':
			out = append(out, '\\', 'r')
		default:
			out = append(out, '\\', 'u', '0', '0', hexdigits[c>>4], hexdigits[c&0xF])
		}
		start = i + 1
	}
	out = append(out, s[start:]...)
	return append(out, '"')
}

// foldKey maps name to a representative of its class under Unicode simple
// case folding: each rune becomes the smallest rune of its folding orbit,
// so foldKey(a) == foldKey(b) exactly when strings.EqualFold(a, b), the
// folding encoding/json matches a member to a struct field by. It is a
// copy of the module's internal/casefold.Key: this package depends on the
// standard library only, so that it can be copied out of the module.
func foldKey(name string) string {
	ascii := true
	for i := 0; i < len(name); i++ {
		if name[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		// The smallest rune of an ASCII letter's orbit is its upper case
		// (k, K and the Kelvin sign K fold to K; s, S and ſ to S).
		return strings.ToUpper(name)
	}
	var b strings.Builder
	for _, r := range name {
		m := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			m = min(m, f)
		}
		b.WriteRune(m)
	}
	return b.String()
}
