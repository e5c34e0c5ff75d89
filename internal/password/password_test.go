package password

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// cheap keeps the tests fast; the format and code path are the same as DefaultParams.
var cheap = Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestHashVerify(t *testing.T) {
	h, err := Hash("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q does not use the default parameters", h)
	}
	for _, tc := range []struct {
		pw   string
		want bool
	}{{"correct horse", true}, {"correct hors", false}, {"", false}, {"correct horse ", false}} {
		got, err := Verify(tc.pw, h)
		if err != nil || got != tc.want {
			t.Errorf("Verify(%q) = %v, %v; want %v, nil", tc.pw, got, err, tc.want)
		}
	}
	if NeedsRehash(h, DefaultParams) {
		t.Error("NeedsRehash(default hash) = true")
	}
}

func TestSaltIsFresh(t *testing.T) {
	a, _ := HashWith("x", cheap)
	b, _ := HashWith("x", cheap)
	if a == b {
		t.Fatal("two hashes of the same password are equal")
	}
}

func TestParseParams(t *testing.T) {
	h, err := HashWith("pw", cheap)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseParams(h)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(cheap, got); diff != "" {
		t.Error(diff)
	}
	if !NeedsRehash(h, DefaultParams) || NeedsRehash(h, cheap) {
		t.Error("NeedsRehash(cheap) wrong")
	}
	dear := cheap
	dear.Time++
	if !NeedsRehash(h, Params{Memory: 32, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}) || !NeedsRehash(h, dear) {
		t.Error("NeedsRehash to other parameters = false")
	}
	if !IsHash(h) || IsHash("change me") {
		t.Error("IsHash wrong")
	}
}

// A hash made by the reference implementation (argon2 CLI / passlib) must verify, so
// hashes written by other tools into a tenant file keep working.
func TestKnownVector(t *testing.T) {
	// The RFC 9106 reference implementation's vector (also in x/crypto's tests):
	// password "password", salt "somesalt", t=1, m=64 KiB, p=1, 24-byte tag.
	const h = "$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ$ZVrRXqxlLcWfcXCnMyv0m4Rpvh/bnCi7"
	ok, err := Verify("password", h)
	if err != nil || !ok {
		t.Fatalf("Verify(reference vector) = %v, %v", ok, err)
	}
}

func TestMalformed(t *testing.T) {
	good, _ := HashWith("pw", cheap)
	parts := strings.Split(good, "$")
	join := func(i int, v string) string {
		p := append([]string(nil), parts...)
		p[i] = v
		return strings.Join(p, "$")
	}
	for name, h := range map[string]string{
		"empty":         "",
		"plaintext":     "change me",
		"argon2i":       join(1, "argon2i"),
		"bcrypt":        "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
		"version":       join(2, "v=16"),
		"no params":     join(3, ""),
		"unknown param": join(3, "m=64,t=1,p=1,x=2"),
		"missing t":     join(3, "m=64,p=1"),
		"huge memory":   join(3, "m=4294967295,t=1,p=1"),
		"huge time":     join(3, "m=64,t=100000,p=1"),
		"zero threads":  join(3, "m=64,t=1,p=0"),
		"huge threads":  join(3, "m=64,t=1,p=300"),
		"bad salt":      join(4, "!!"),
		"short salt":    join(4, "YWJj"),
		"bad hash":      join(5, "***"),
		"short hash":    join(5, "YWJj"),
		"extra field":   good + "$x",
	} {
		t.Run(name, func(t *testing.T) {
			ok, err := Verify("pw", h)
			if ok || !errors.Is(err, ErrMalformed) {
				t.Fatalf("Verify = %v, %v; want false, ErrMalformed", ok, err)
			}
		})
	}
}

func BenchmarkHash(b *testing.B) {
	for b.Loop() {
		if _, err := Hash("correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

// TestCeiling: a hash whose check would cost more than the documented
// ceiling (MaxMemory, MaxWork) is refused, named as too costly, without
// being computed; one at the ceiling (the common libraries' 64 MiB
// defaults) is accepted.
func TestCeiling(t *testing.T) {
	good, _ := HashWith("pw", cheap)
	parts := strings.Split(good, "$")
	with := func(params string) string {
		p := append([]string(nil), parts...)
		p[3] = params
		return strings.Join(p, "$")
	}
	for _, params := range []string{
		"m=65536,t=4,p=1", // PHP's password_hash default
		"m=65536,t=3,p=4", // RFC 9106's second option, argon2-cffi's default
		"m=19456,t=13,p=1",
	} {
		if _, err := ParseParams(with(params)); err != nil {
			t.Errorf("ParseParams(%s) = %v, want accepted", params, err)
		}
	}
	for _, params := range []string{
		"m=65537,t=1,p=1",   // more memory than the ceiling
		"m=1048576,t=1,p=1", // 1 GiB
		"m=262144,t=3,p=4",  // libsodium's moderate limits
		"m=65536,t=5,p=1",   // more work than the ceiling
		"m=19456,t=14,p=1",
		"m=64,t=1000000,p=1",
	} {
		before := Computed()
		ok, err := Verify("pw", with(params))
		if ok || !errors.Is(err, ErrTooCostly) || !errors.Is(err, ErrMalformed) {
			t.Errorf("Verify(%s) = %v, %v; want false, ErrTooCostly", params, ok, err)
		}
		if Computed() != before {
			t.Errorf("Verify(%s) computed the hash", params)
		}
	}
}
