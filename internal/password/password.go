package password

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"

	"golang.org/x/crypto/argon2"
)

// Params are the argon2id cost parameters of a hash.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8  // lanes
	SaltLen uint32 // bytes
	KeyLen  uint32 // bytes
}

// DefaultParams are the parameters Hash uses: the OWASP Password Storage Cheat Sheet's
// argon2id configuration (19 MiB, 2 passes, 1 lane) with a 128-bit salt and a 256-bit
// tag. RFC 9106's 64 MiB options measured 0.4–3 s per hash on the 2-core target, which
// would turn every login burst into a denial of service; 19 MiB/t=2 costs ~50 ms there.
// Hashes with other parameters still verify (the parameters travel in the PHC string).
var DefaultParams = Params{Memory: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// MaxMemory and MaxWork are the ceiling on the cost of a hash Verify checks, and so of
// a hash a tenant file may give: 64 MiB, the memory of RFC 9106's second recommended
// option and of the common argon2 libraries' defaults, and memory × passes up to four
// passes over it. A check at the ceiling costs about seven of DefaultParams (~0.4 s on
// the 2-core target), so that a hostile or corrupted hash cannot make one sign-in eat
// gigabytes or minutes, nor the bound on checks at once (the identity provider's)
// hold gigabytes between them. A hash above it is refused, not checked: its person
// needs a new password.
const (
	MaxMemory = 64 * 1024     // KiB
	MaxWork   = 4 * MaxMemory // KiB × passes
)

// Limits on the other parameters Verify accepts from a stored hash.
const (
	maxThreads = 64
	maxKeyLen  = 1024
	minKeyLen  = 16
	minSaltLen = 8
)

// ErrMalformed is returned (wrapped) by Verify and ParseParams for a string that is not
// an argon2id PHC hash this package can check.
var ErrMalformed = errors.New("password: malformed argon2id hash")

// ErrTooCostly is returned (wrapped) by Verify and ParseParams for a hash whose
// parameters are above MaxMemory or MaxWork. It is an ErrMalformed too: a hash
// this package does not check.
var ErrTooCostly = fmt.Errorf("%w: parameters above the ceiling", ErrMalformed)

// computed counts argon2id computations (see Computed).
var computed atomic.Uint64

// Computed returns how many argon2id computations (hashes and checks) this
// process has run: what tells a path that must never hash (the token path
// for an unknown client) from one that does, without timing anything.
func Computed() uint64 { return computed.Load() }

// Hash returns the PHC string of pw hashed with DefaultParams and a fresh random salt.
func Hash(pw string) (string, error) {
	return HashWith(pw, DefaultParams)
}

// HashWith is Hash with explicit parameters (tests use cheap ones).
func HashWith(pw string, p Params) (string, error) {
	if err := p.check(); err != nil {
		return "", err
	}
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password: salt: %w", err)
	}
	computed.Add(1)
	key := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt),
		base64.RawStdEncoding.EncodeToString(key)), nil
}

// Verify reports whether pw matches the PHC hash phc. A mismatch is (false, nil); an
// error means phc itself is unusable (ErrMalformed). The comparison is constant-time.
func Verify(pw, phc string) (bool, error) {
	p, salt, want, err := parse(phc)
	if err != nil {
		return false, err
	}
	computed.Add(1)
	got := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// ParseParams returns the parameters of a PHC hash, after the same checks Verify makes.
// The tenant-file apply uses it to validate a given password_hash / secret_hash.
func ParseParams(phc string) (Params, error) {
	p, _, _, err := parse(phc)
	return p, err
}

// NeedsRehash reports whether phc was made with other cost parameters than p (or a
// shorter salt or tag, or is unreadable), so a caller that just verified the plaintext
// may store a new hash made with p. Stronger parameters count too: a hash dearer than
// p's makes each check of its owner dearer than that of an unknown name (checked
// against a hash made with p), which tells by timing that the owner exists.
func NeedsRehash(phc string, p Params) bool {
	q, err := ParseParams(phc)
	if err != nil {
		return true
	}
	return q.Memory != p.Memory || q.Time != p.Time || q.Threads != p.Threads ||
		q.KeyLen < p.KeyLen || q.SaltLen < p.SaltLen
}

// IsHash reports whether s looks like a PHC argon2id hash (and is valid).
func IsHash(s string) bool {
	_, err := ParseParams(s)
	return err == nil
}

func (p Params) check() error {
	switch {
	case p.Memory < 8*uint32(p.Threads):
		return fmt.Errorf("%w: memory %d KiB out of range", ErrMalformed, p.Memory)
	case p.Time < 1:
		return fmt.Errorf("%w: time %d out of range", ErrMalformed, p.Time)
	case p.Memory > MaxMemory:
		return fmt.Errorf("%w: memory %d KiB, at most %d", ErrTooCostly, p.Memory, MaxMemory)
	case uint64(p.Memory)*uint64(p.Time) > MaxWork:
		return fmt.Errorf("%w: memory × time %d KiB × %d, at most %d", ErrTooCostly, p.Memory, p.Time, MaxWork)
	case p.Threads < 1 || p.Threads > maxThreads:
		return fmt.Errorf("%w: threads %d out of range", ErrMalformed, p.Threads)
	case p.SaltLen < minSaltLen || p.SaltLen > maxKeyLen:
		return fmt.Errorf("%w: salt length %d out of range", ErrMalformed, p.SaltLen)
	case p.KeyLen < minKeyLen || p.KeyLen > maxKeyLen:
		return fmt.Errorf("%w: key length %d out of range", ErrMalformed, p.KeyLen)
	}
	return nil
}

func parse(phc string) (Params, []byte, []byte, error) {
	// "", "argon2id", "v=19", "m=…,t=…,p=…", salt, hash
	f := strings.Split(phc, "$")
	if len(f) != 6 || f[0] != "" || f[1] != "argon2id" {
		return Params{}, nil, nil, ErrMalformed
	}
	if f[2] != "v="+strconv.Itoa(argon2.Version) {
		return Params{}, nil, nil, fmt.Errorf("%w: unsupported version %q", ErrMalformed, f[2])
	}
	var p Params
	var seen [3]bool
	for kv := range strings.SplitSeq(f[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return Params{}, nil, nil, ErrMalformed
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return Params{}, nil, nil, fmt.Errorf("%w: parameter %q", ErrMalformed, k)
		}
		switch k {
		case "m":
			p.Memory, seen[0] = uint32(n), true
		case "t":
			p.Time, seen[1] = uint32(n), true
		case "p":
			if n > maxThreads {
				return Params{}, nil, nil, fmt.Errorf("%w: threads %d out of range", ErrMalformed, n)
			}
			p.Threads, seen[2] = uint8(n), true
		default:
			return Params{}, nil, nil, fmt.Errorf("%w: unknown parameter %q", ErrMalformed, k)
		}
	}
	if !seen[0] || !seen[1] || !seen[2] {
		return Params{}, nil, nil, fmt.Errorf("%w: missing parameter", ErrMalformed)
	}
	salt, err := base64.RawStdEncoding.Strict().DecodeString(f[4])
	if err != nil {
		return Params{}, nil, nil, fmt.Errorf("%w: salt encoding", ErrMalformed)
	}
	key, err := base64.RawStdEncoding.Strict().DecodeString(f[5])
	if err != nil {
		return Params{}, nil, nil, fmt.Errorf("%w: hash encoding", ErrMalformed)
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key))
	if err := p.check(); err != nil {
		return Params{}, nil, nil, err
	}
	return p, salt, key, nil
}
