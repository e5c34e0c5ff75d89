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
	if NeedsRehash(h) {
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
	if !NeedsRehash(h) {
		t.Error("NeedsRehash(cheap) = false")
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
