package server_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/server"
)

// TestMissingMasterKeyIsNotReplaced: a data folder whose store holds
// signing keys but whose master key file is gone (not copied with a
// backup, deleted by mistake) is refused with an error that says the key
// is missing, and no new master key is written next to keys it cannot
// open (as the audit commands refuse it: TestAuditCommandsNeedAStore).
func TestMissingMasterKeyIsNotReplaced(t *testing.T) {
	dir := t.TempDir()
	o := server.Options{Store: server.StoreOptions{DataDir: dir}}
	s, err := server.New(context.Background(), o, "127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	mk := filepath.Join(dir, keys.MasterKeyFile)
	if err := os.Remove(mk); err != nil {
		t.Fatal(err)
	}
	_, err = server.New(context.Background(), o, "127.0.0.1:1")
	if err == nil {
		t.Fatal("started without the store's master key")
	}
	if !strings.Contains(err.Error(), keys.MasterKeyFile) || !strings.Contains(err.Error(), "restore") {
		t.Errorf("the error does not say the master key file is missing: %v", err)
	}
	if _, err := os.Stat(mk); err == nil {
		t.Errorf("a new master key was written next to signing keys sealed under another")
	}
}
