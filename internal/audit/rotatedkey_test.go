package audit_test

import (
	"context"
	"crypto/rand"
	"testing"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/store/storetest"
)

// A checkpoint vouches for a head signed by a key rotated in after this
// Log's keys were loaded (keys rotate from the CLI, another replica): the
// key is read from the store, as the server's periodic reload would, and
// the head is not taken for one appended behind the writers' backs.
func TestCheckpointAfterAnotherProcessRotated(t *testing.T) {
	ctx := context.Background()
	st := storetest.OpenSQLite(t)
	master := make([]byte, 32)
	rand.Read(master)
	sealer, err := keys.NewSealer(master)
	if err != nil {
		t.Fatal(err)
	}
	open := func() (*keys.Manager, *audit.Log) {
		km, err := keys.Open(ctx, st, sealer, nil)
		if err != nil {
			t.Fatal(err)
		}
		l := audit.New(st, km, &audit.Options{CheckpointInterval: -1})
		t.Cleanup(func() { l.Close() })
		return km, l
	}
	_, server := open()
	if err := server.Record(ctx, audit.Event{Type: audit.ToolDecided, Actor: "alice"}); err != nil {
		t.Fatal(err)
	}
	cliKeys, cli := open()
	if err := cliKeys.RotateNow(ctx); err != nil { // the new key signs at once
		t.Fatal(err)
	}
	if err := cli.Record(ctx, audit.Event{Type: audit.AdminChange, Actor: "root"}); err != nil {
		t.Fatal(err)
	}
	if _, err := server.Checkpoint(ctx); err != nil {
		t.Fatalf("checkpoint of a head signed by the rotated key: %v", err)
	}
	rep, err := server.Verify(ctx, nil)
	if err != nil || !rep.OK {
		t.Fatalf("verify: %+v %v", rep, err)
	}
}
