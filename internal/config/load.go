package config

import (
	"fmt"
	"os"

	"github.com/gatehouse/gatehouse/internal/password"
)

// Load reads, parses and validates the tenant file at path.
func Load(path string, builtins []string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("tenant file: %w", err)
	}
	defer fh.Close()
	f, err := Parse(fh, path)
	if err != nil {
		return nil, err
	}
	if err := f.Validate(builtins); err != nil {
		return nil, err
	}
	return f, nil
}

// Argon2 hashes secrets with argon2id.
var Argon2 Secrets = argon2{}

type argon2 struct{}

func (argon2) Hash(s string) (string, error) { return password.Hash(s) }
func (argon2) Verify(s, hash string) bool {
	ok, err := password.Verify(s, hash)
	return err == nil && ok
}
