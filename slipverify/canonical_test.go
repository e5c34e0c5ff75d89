package slipverify_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/slipverify"
)

func TestCanonical(t *testing.T) {
	tests := []struct{ in, want string }{
		{``, `{}`},
		{` {} `, `{}`},
		{`{"b":1,"a":2}`, `{"a":2,"b":1}`},
		{"{ \"a\" : [ 1 , true , null , \"x\" ] }", `{"a":[1,true,null,"x"]}`},
		{`{"z":{"b":[],"a":{}}}`, `{"z":{"a":{},"b":[]}}`},
		// Numbers in the ECMAScript form (RFC 8785 appendix B samples).
		{`[0, -0, 1.0, 1e0, 100, 1E2, 1e21, 1e-6, 1e-7, 0.1, 333333333.33333329, 1e30, 4.50, 2e-3, 0.000001, 1.2345678901234568e20]`,
			`[0,0,1,1,100,100,1e+21,0.000001,1e-7,0.1,333333333.3333333,1e+30,4.5,0.002,0.000001,123456789012345680000]`},
		{`[9007199254740992, -9007199254740992]`, `[9007199254740992,-9007199254740992]`},
		// Strings: minimal escapes, everything else literal.
		{`["\u0041\u00e9\u20ac\ud83d\ude00", "\/", "<>&", "\u2028", "\u001f\t\n"]`, "[\"Aé€😀\",\"/\",\"<>&\",\"\u2028\",\"\\u001f\\t\\n\"]"},
		// Sorting is by UTF-16 code units: U+FF61 sorts after U+1F600's
		// surrogates (0xD83D) although it is the smaller code point.
		{`{"\uff61":1,"😀":2,"é":3,"a":4}`, `{"a":4,"é":3,"😀":2,"｡":1}`},
	}
	for _, tt := range tests {
		got, err := slipverify.Canonical([]byte(tt.in))
		if err != nil {
			t.Errorf("Canonical(%s): %v", tt.in, err)
			continue
		}
		if string(got) != tt.want {
			t.Errorf("Canonical(%s)\n got %s\nwant %s", tt.in, got, tt.want)
		}
		again, err := slipverify.Canonical(got)
		if err != nil || !bytes.Equal(again, got) {
			t.Errorf("not idempotent: %s -> %s (%v)", got, again, err)
		}
	}
}

func TestCanonicalRefuses(t *testing.T) {
	for _, in := range []string{
		`{"a":1,"a":2}`,            // duplicate
		`{"amount":1,"Amount":2}`,  // case
		`{"scope":1,"ſcope":2}`,    // long s folds to s
		`{"kind":1,"\u212aind":2}`, // Kelvin sign folds to k
		`{"x":{"y":1,"Y":2}}`,      // nested
		`[9007199254740993]`,       // integer beyond 2^53
		`[1e400]`,                  // overflows
		`["\ud800"]`,               // lone surrogate
		`["\udc00\ud800"]`,         // reversed pair
		"[\"\xff\"]",               // invalid UTF-8
		"[\"a\x01\"]",              // raw control character
		`{"a":1,}`, `[1,]`, `[01]`, `[1.]`, `[.5]`, `[+1]`, `{a:1}`, `{"a" 1}`, `[1] [2]`, `nul`, `"abc`,
		`[NaN]`, `[Infinity]`, `{"a":1`,
	} {
		if out, err := slipverify.Canonical([]byte(in)); !errors.Is(err, slipverify.ErrNotCanonicalizable) {
			t.Errorf("Canonical(%q) = %s, %v; want an error", in, out, err)
		}
	}
	deep := bytes.Repeat([]byte("["), 100)
	if _, err := slipverify.Canonical(deep); err == nil {
		t.Error("deep nesting accepted")
	}
	// 64 levels of containers at most, whether the innermost holds a
	// value or not.
	nest := func(n int, inner string) []byte {
		return []byte(strings.Repeat("[", n) + inner + strings.Repeat("]", n))
	}
	for _, inner := range []string{"", "1"} {
		if _, err := slipverify.Canonical(nest(64, inner)); err != nil {
			t.Errorf("64 levels (innermost %q): %v", inner, err)
		}
		if out, err := slipverify.Canonical(nest(65, inner)); !errors.Is(err, slipverify.ErrNotCanonicalizable) {
			t.Errorf("65 levels (innermost %q) = %d bytes, %v; want an error", inner, len(out), err)
		}
	}
}

func TestDigest(t *testing.T) {
	// The digest is over the canonical text: every spelling of the same
	// arguments has the same digest, and it is the plain SHA-256 a shell
	// would compute: printf '%s' '{"month":"2026-10"}' | sha256sum
	a, _ := slipverify.ArgsDigest([]byte(`{ "month": "2026-10" }`))
	b, _ := slipverify.ArgsDigest([]byte(`{"month":"2026-10"}`))
	sum := sha256.Sum256([]byte(`{"month":"2026-10"}`))
	if want := hex.EncodeToString(sum[:]); a != want || b != want {
		t.Errorf("digests %s %s, want %s", a, b, want)
	}
	if a != slipverify.Digest([]byte(`{"month":"2026-10"}`)) {
		t.Error("ArgsDigest is not Digest of the canonical form")
	}
}

// FuzzCanonical checks, for any input it accepts, that the output is
// valid JSON meaning the same as the input, and a fixed point.
func FuzzCanonical(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/canonical/*.json")
	for _, s := range seeds {
		b, _ := os.ReadFile(s)
		f.Add(b)
	}
	f.Add([]byte(`{"b":[1,2.5,-0,"x\u00e9"],"a":{"c":null,"d":true}}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := slipverify.Canonical(in)
		if err != nil {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("invalid output %q for %q", out, in)
		}
		again, err := slipverify.Canonical(out)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("not a fixed point: %q -> %q (%v)", out, again, err)
		}
		if len(bytes.TrimSpace(in)) == 0 {
			return
		}
		var x, y any
		if json.Unmarshal(in, &x) != nil {
			t.Fatalf("accepted %q, which encoding/json refuses", in)
		}
		if err := json.Unmarshal(out, &y); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(x, y) {
			t.Fatalf("meaning changed: %q -> %q", in, out)
		}
	})
}
