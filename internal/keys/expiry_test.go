package keys_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/keys"
)

// TestRetiredKeyExpiresWithoutLoad: a key retired by a planned rotation
// stops vouching when its publication ends by the manager's clock, even
// on a replica that has not reloaded the keys since (a server reloads
// them only when the tenant changes): Verify refuses what it signed,
// also a token it verified before, and the JWKS leaves it out. What it
// signed in the audit trail still checks (VerifyArchived).
func TestRetiredKeyExpiresWithoutLoad(t *testing.T) {
	now := time.Now()
	m, _ := newManager(t, &now)
	for _, alg := range keys.Algs {
		t.Run(alg, func(t *testing.T) {
			old, err := m.Sign(alg, "", []byte(`{}`))
			if err != nil {
				t.Fatal(err)
			}
			kid := kidOf(t, old)
			if err := m.Rotate(context.Background()); err != nil {
				t.Fatal(err)
			}
			// Within its publication, the retired key still vouches (and
			// Verify remembers the token).
			now = now.Add(keys.DefaultPublishBeforeSigning + time.Hour)
			if _, err := m.Verify(old, ""); err != nil {
				t.Fatalf("within the grace period: %v", err)
			}
			if !strings.Contains(string(m.JWKS()), kid) {
				t.Fatal("the retired key left the JWKS within the grace period")
			}
			// Past it, with no Load in between.
			now = now.Add(24 * time.Hour)
			if _, err := m.Verify(old, ""); !errors.Is(err, keys.ErrUnknownKey) {
				t.Errorf("a token of the expired key: %v, want ErrUnknownKey", err)
			}
			if strings.Contains(string(m.JWKS()), kid) {
				t.Error("the expired key is still in the JWKS")
			}
			if _, err := m.VerifyArchived(old, ""); err != nil {
				t.Errorf("VerifyArchived of the expired key's token: %v", err)
			}
			if !m.HasKey(kid) {
				t.Error("the expired key is no longer known")
			}
			fresh, err := m.Sign(alg, "", []byte(`{}`))
			if err != nil {
				t.Fatal(err)
			}
			if kidOf(t, fresh) == kid {
				t.Fatal("the expired key still signs")
			}
			if _, err := m.Verify(fresh, ""); err != nil {
				t.Errorf("the new key's token: %v", err)
			}
		})
	}
}
