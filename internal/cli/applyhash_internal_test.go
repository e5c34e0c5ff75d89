package cli

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/sqldb"
	"github.com/gatehouse/gatehouse/internal/store/storetest"
)

// txFlagged is a store whose transactions, and those of its trail, raise
// in while they run.
type txFlagged struct {
	*sqldb.DB
	in *atomic.Bool
}

func (s txFlagged) InTx(ctx context.Context, fn func(store.Tenant) error) error {
	return s.DB.InTx(ctx, func(tx store.Tenant) error {
		s.in.Store(true)
		defer s.in.Store(false)
		return fn(tx)
	})
}

type txFlaggedTrail struct {
	st *sqldb.DB
	in *atomic.Bool
}

func (m txFlaggedTrail) InTx(ctx context.Context, change func(store.Tenant) ([]audit.Event, error)) (int64, error) {
	return 0, txFlagged{m.st, m.in}.InTx(ctx, func(tx store.Tenant) error {
		_, err := change(tx)
		return err
	})
}

// inTxSecrets is argon2id, counting the hashes and checks made while a
// transaction runs.
type inTxSecrets struct {
	config.Secrets
	in    *atomic.Bool
	mu    sync.Mutex
	calls []string
}

func (s *inTxSecrets) note(what string) {
	if s.in.Load() {
		s.mu.Lock()
		s.calls = append(s.calls, what)
		s.mu.Unlock()
	}
}

func (s *inTxSecrets) Hash(secret string) (string, error) {
	s.note("hash")
	return s.Secrets.Hash(secret)
}

func (s *inTxSecrets) Verify(secret, hash string) bool {
	s.note("verify")
	return s.Secrets.Verify(secret, hash)
}

// TestApplyHashesOutsideItsTransaction: an apply hashes and checks the
// file's clear passwords and secrets before its transactions, not in
// them. Its transactions hold the tenant's lock (on SQLite, the database's
// one writer) and argon2id takes tens of milliseconds a password, twice
// (the plan, then the change): with a few hundred people in the file,
// every other write of every replica, and on SQLite a running server's
// tool calls and sign-ins, waited seconds for it, past the 10 s an SQLite
// writer waits before it fails.
func TestApplyHashesOutsideItsTransaction(t *testing.T) {
	db := storetest.OpenSQLite(t)
	ctx := context.Background()
	in := new(atomic.Bool)
	saved := config.Argon2
	sec := &inTxSecrets{Secrets: saved, in: in}
	config.Argon2 = sec
	defer func() { config.Argon2 = saved }()
	file := func(alicePW string) *config.File {
		f, err := config.Parse(strings.NewReader(`tenant: acme
users:
  - {username: alice, password: "`+alicePW+`"}
  - {username: bob, password: "bob's password"}
clients:
  - {client_id: svc, kind: service, secret: "a long random secret of 32+ chars"}
`), "acme.yaml")
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Validate(builtinTools); err != nil {
			t.Fatal(err)
		}
		return f
	}
	st, trail := txFlagged{db, in}, txFlaggedTrail{db, in}
	for _, step := range []struct {
		what, alicePW string
	}{
		{"first apply (new people and client)", "alice's password"},
		{"second apply (the same file)", "alice's password"},
		{"third apply (alice's new password)", "alice's new password"},
	} {
		sec.calls = nil
		if _, err := applyAudited(ctx, st, trail, "someone", file(step.alicePW), nil); err != nil {
			t.Fatalf("%s: %v", step.what, err)
		}
		if len(sec.calls) > 0 {
			t.Errorf("%s: %d password hashes or checks ran in a transaction (%v)", step.what, len(sec.calls), sec.calls)
		}
		alice, err := db.Users().Get(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		if !saved.Verify(step.alicePW, alice.PasswordHash) {
			t.Errorf("%s: alice's stored password is not the file's", step.what)
		}
	}
}
