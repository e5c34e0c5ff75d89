package audit_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/sqldb"
)

// addRole is a change that adds a role and records it.
func addRole(name string) func(tx store.Tenant) ([]audit.Event, error) {
	return func(tx store.Tenant) ([]audit.Event, error) {
		if err := tx.Roles().Create(context.Background(), store.Role{Name: name}); err != nil {
			return nil, err
		}
		return []audit.Event{{Type: audit.AdminChange, Actor: "cli:root",
			Detail: map[string]any{"op": "+", "kind": "role", "name": name, "password_hash": "$argon2id$secret"}}}, nil
	}
}

func verifyOK(t *testing.T, l *audit.Log) audit.Report {
	t.Helper()
	rep, err := l.Verify(context.Background(), nil)
	if err != nil || !rep.OK {
		t.Fatalf("verify: %v %+v", err, rep)
	}
	return rep
}

// TestInTxRecordsWithTheChange: the change and its record are stored
// together; the record is what Record writes for the same event (redacted
// alike), and the chain verifies.
func TestInTxRecordsWithTheChange(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(t *testing.T) *sqldb.DB) {
		e := newEnv(t, open, nil)
		ctx := context.Background()
		e.record(t, events(2)...)
		seq, err := e.log.InTx(ctx, addRole("auditor"))
		if err != nil || seq != 3 {
			t.Fatalf("InTx = %d, %v; want seq 3", seq, err)
		}
		if _, err := e.st.Roles().Get(ctx, "auditor"); err != nil {
			t.Fatalf("the change was not kept: %v", err)
		}
		evs, _ := addRole("other")(e.st) // the same event, through the writer
		e.record(t, evs[0])
		p, err := e.log.Query(ctx, audit.Filter{})
		if err != nil || len(p.Entries) != 4 {
			t.Fatalf("query: %v, %d entries", err, len(p.Entries))
		}
		in, by := string(p.Entries[2].Raw), string(p.Entries[3].Raw)
		if strings.Replace(in, `"auditor"`, `"other"`, 1) != by || strings.Contains(in, "argon2") {
			t.Errorf("InTx wrote %s, Record %s", in, by)
		}
		if p.Entries[2].Sig == "" {
			t.Error("InTx's record carries no batch signature")
		}
		if st := e.log.Stats(); st.Records != 4 {
			t.Errorf("stats %+v, want 4 records", st)
		}
		verifyOK(t, e.log)
	})
}

// TestInTxKeepsNothingWhenTheAppendFails: when the trail cannot take the
// record (a record written at the next seq behind the head's back), the
// change is not kept; nor when the change fails, or the Log is closed.
func TestInTxKeepsNothingWhenTheAppendFails(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(t *testing.T) *sqldb.DB) {
		e := newEnv(t, open, nil)
		ctx := context.Background()
		e.record(t, events(2)...)
		e.forge(t, 3, "planted", false)
		if _, err := e.log.InTx(ctx, addRole("auditor")); err == nil {
			t.Fatal("InTx succeeded on a chain it cannot append to")
		}
		if _, err := e.st.Roles().Get(ctx, "auditor"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("the change was kept without its record: %v", err)
		}
		e.exec(t, "DELETE FROM audit_log WHERE seq = 3")

		boom := errors.New("boom")
		_, err := e.log.InTx(ctx, func(tx store.Tenant) ([]audit.Event, error) {
			if _, err := addRole("ops")(tx); err != nil {
				return nil, err
			}
			return nil, boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("InTx = %v, want the change's error", err)
		}
		// An event that cannot be encoded fails the change too.
		_, err = e.log.InTx(ctx, func(tx store.Tenant) ([]audit.Event, error) {
			if _, err := addRole("ops")(tx); err != nil {
				return nil, err
			}
			return []audit.Event{{}}, nil
		})
		if err == nil {
			t.Fatal("InTx took an event without a type")
		}
		if _, err := e.st.Roles().Get(ctx, "ops"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("a failed change was kept: %v", err)
		}
		e.log.Close()
		if _, err := e.log.InTx(ctx, addRole("late")); !errors.Is(err, audit.ErrClosed) {
			t.Fatalf("InTx after Close = %v, want ErrClosed", err)
		}
		if _, err := e.st.Roles().Get(ctx, "late"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("a change was made after Close: %v", err)
		}
		if h, _ := e.st.AuditHead(ctx); h.Seq != 2 {
			t.Fatalf("head %+v, want seq 2", h)
		}
	})
}

// TestInTxRacesTheWriter: changes recorded with InTx, from this process
// and from another handle (another process's), while the writers of both
// record events: the chain stays one sequence that verifies, and every
// change has its record.
func TestInTxRacesTheWriter(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(t *testing.T) *sqldb.DB) {
		e := newEnv(t, open, nil)
		other := audit.New(storetestSecondHandle(t, e.st), e.keys, &audit.Options{Now: e.clock.Now, CheckpointInterval: -1})
		t.Cleanup(func() { other.Close() })
		ctx := context.Background()
		const each = 15
		var wg sync.WaitGroup
		for i, l := range []*audit.Log{e.log, other} {
			wg.Add(2)
			go func() {
				defer wg.Done()
				for j := range each {
					if _, err := l.InTx(ctx, addRole(fmt.Sprintf("r%d-%d", i, j))); err != nil {
						t.Error(err)
						return
					}
				}
			}()
			go func() {
				defer wg.Done()
				for _, ev := range events(each) {
					if err := l.Record(ctx, ev); err != nil {
						t.Error(err)
						return
					}
					time.Sleep(time.Millisecond)
				}
			}()
		}
		wg.Wait()
		if rep := verifyOK(t, e.log); rep.Records != 4*each {
			t.Errorf("%d records, want %d", rep.Records, 4*each)
		}
		p, err := e.log.Query(ctx, audit.Filter{Types: []string{audit.AdminChange}, Limit: 1000})
		if err != nil || len(p.Entries) != 2*each {
			t.Fatalf("query: %v, %d admin changes, want %d", err, len(p.Entries), 2*each)
		}
		for _, en := range p.Entries {
			name, _ := en.Event.Detail["name"].(string)
			if _, err := e.st.Roles().Get(ctx, name); err != nil {
				t.Errorf("role %s recorded but not kept: %v", name, err)
			}
		}
	})
}
