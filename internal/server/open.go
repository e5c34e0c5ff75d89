package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/store/postgres"
	"github.com/gatehouse/gatehouse/internal/store/sqldb"
	"github.com/gatehouse/gatehouse/internal/store/sqlite"
)

// StoreOptions say where the tenant lives.
type StoreOptions struct {
	// DataDir is the data folder: the SQLite database (unless DatabaseURL
	// is set) and the master key file live there. Empty means
	// "./gatehouse-data".
	DataDir string
	// DatabaseURL, when set, is a postgres:// URL to use instead of SQLite.
	DatabaseURL string
	// MasterKey, when set, is the base64 key sealing the signing keys;
	// otherwise it is read from (or created in) the data folder.
	MasterKey string
}

// DefaultDataDir is the data folder when none is given.
const DefaultDataDir = "./gatehouse-data"

// OpenStore opens the store the options name, applying migrations.
func OpenStore(ctx context.Context, o StoreOptions) (*sqldb.DB, error) {
	if o.DataDir == "" {
		o.DataDir = DefaultDataDir
	}
	if o.DatabaseURL != "" {
		if err := CheckDatabaseURL(o.DatabaseURL); err != nil {
			return nil, err
		}
		return postgres.Open(ctx, o.DatabaseURL, nil)
	}
	return sqlite.Open(ctx, o.DataDir, nil)
}

// CheckDatabaseURL refuses a --database that is not a postgres:// URL.
func CheckDatabaseURL(u string) error {
	if !strings.HasPrefix(u, "postgres://") && !strings.HasPrefix(u, "postgresql://") {
		return fmt.Errorf("--database must be a postgres:// URL, got %q", postgres.Redact(u))
	}
	return nil
}

// OpenKeys loads (creating on first start) the signing keys of st.
func OpenKeys(ctx context.Context, st *sqldb.DB, o StoreOptions) (*keys.Manager, error) {
	return openKeys(ctx, st, o, &keys.Options{})
}

// OpenKeysReadOnly loads the signing keys of st for a command that only
// looks: it writes nothing to the store (keys.Options.ReadOnly).
func OpenKeysReadOnly(ctx context.Context, st *sqldb.DB, o StoreOptions) (*keys.Manager, error) {
	return openKeys(ctx, st, o, &keys.Options{ReadOnly: true})
}

// openKeys is OpenKeys with opts: for the server's keys, a Logger told
// when a key's private half is dropped, whose archiving an operator may
// want to follow.
func openKeys(ctx context.Context, st *sqldb.DB, o StoreOptions, opts *keys.Options) (*keys.Manager, error) {
	if o.DataDir == "" {
		o.DataDir = DefaultDataDir
	}
	if o.MasterKey == "" {
		if err := sqlite.PrepareDir(o.DataDir); err != nil {
			return nil, err
		}
		// A store that holds signing keys was sealed under a master key:
		// with the file gone (not restored with a backup, deleted, or
		// --database given without the key), a new one would be written
		// next to keys it cannot open, and every later start would read it.
		if _, err := os.Stat(filepath.Join(o.DataDir, keys.MasterKeyFile)); errors.Is(err, fs.ErrNotExist) {
			ks, err := st.Keys().List(ctx)
			if err != nil {
				return nil, fmt.Errorf("read the signing keys: %w", err)
			}
			if len(ks) > 0 {
				return nil, fmt.Errorf("data folder %s has no %s, but the store holds signing keys sealed under one: restore the file, or set GATEHOUSE_MASTER_KEY to the store's master key",
					o.DataDir, keys.MasterKeyFile)
			}
		}
	}
	mk, err := keys.LoadMasterKey(o.MasterKey, o.DataDir)
	if err != nil {
		return nil, err
	}
	sealer, err := keys.NewSealer(mk)
	if err != nil {
		return nil, err
	}
	return keys.Open(ctx, st, sealer, opts)
}
