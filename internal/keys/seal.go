package keys

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// MasterKeyFile is the file in the data folder that holds the key sealing
// the signing keys, when no master key is given otherwise.
const MasterKeyFile = "master.key"

// Sealer encrypts private keys at rest with AES-256-GCM.
type Sealer struct{ aead cipher.AEAD }

// NewSealer returns a sealer for a 32-byte master key.
func NewSealer(master []byte) (*Sealer, error) {
	if len(master) != 32 {
		return nil, fmt.Errorf("master key must be 32 bytes, got %d", len(master))
	}
	block, err := aes.NewCipher(master)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts plain; the key ID is bound as additional data so a sealed
// key cannot be swapped onto another key's record.
func (s *Sealer) Seal(kid string, plain []byte) []byte {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return s.aead.Seal(nonce, nonce, plain, []byte(kid))
}

// Open decrypts what Seal sealed for the same kid.
func (s *Sealer) Open(kid string, sealed []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("sealed key too short")
	}
	plain, err := s.aead.Open(nil, sealed[:n], sealed[n:], []byte(kid))
	if err != nil {
		return nil, fmt.Errorf("signing key %s cannot be unsealed: wrong master key?", kid)
	}
	return plain, nil
}

// LoadMasterKey returns the master key: from value (base64, e.g. from
// GATEHOUSE_MASTER_KEY) when it is set, else from the file in dir, which is
// created (0600) with a new random key when missing.
func LoadMasterKey(value, dir string) ([]byte, error) {
	if value != "" {
		k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(value))
		if err != nil || len(k) != 32 {
			return nil, errors.New("master key: want 32 bytes in standard base64")
		}
		return k, nil
	}
	path := filepath.Join(dir, MasterKeyFile)
	b, err := os.ReadFile(path)
	if err == nil {
		// As ssh treats a private key: a key file others may read is
		// refused, not used (it was created 0600; a copy or a restore
		// widened it).
		if fi, serr := os.Stat(path); serr == nil && runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
			return nil, fmt.Errorf("master key file %s is readable by others (mode %#o): make it the owner's only (chmod 600)", path, fi.Mode().Perm())
		}
		k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(k) != 32 {
			return nil, fmt.Errorf("master key file %s: want 32 bytes in standard base64", path)
		}
		return k, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read master key: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("data folder %s: %w", dir, err)
	}
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create master key file: %w", err)
	}
	defer f.Close()
	if _, err := f.WriteString(base64.StdEncoding.EncodeToString(k) + "\n"); err != nil {
		return nil, fmt.Errorf("write master key file: %w", err)
	}
	return k, f.Sync()
}

// settingAD is the additional data a setting is sealed under: its name,
// in a namespace no key ID shares, so that neither a sealed key nor
// another setting's seal passes for it.
func settingAD(name string) []byte { return []byte("gatehouse setting\x00" + name) }

// SealSetting seals a tenant setting's value under the master key, for a
// setting the servers must not take from whoever can write the database
// (OpenSetting checks it): the seal is standard base64.
func (m *Manager) SealSetting(name, value string) string {
	return base64.StdEncoding.EncodeToString(m.sealer.Seal(string(settingAD(name)), []byte(value)))
}

// OpenSetting reports whether sealed is a seal of value for the setting
// name made under this master key (SealSetting).
func (m *Manager) OpenSetting(name, value, sealed string) bool {
	b, err := base64.StdEncoding.DecodeString(sealed)
	if err != nil {
		return false
	}
	n := m.sealer.aead.NonceSize()
	if len(b) < n {
		return false
	}
	plain, err := m.sealer.aead.Open(nil, b[:n], b[n:], settingAD(name))
	return err == nil && string(plain) == value
}
