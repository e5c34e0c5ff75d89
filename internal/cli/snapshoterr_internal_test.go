package cli

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/sqldb"
	"github.com/gatehouse/gatehouse/internal/store/storetest"
)

var errDiskRead = errors.New("disk I/O error")

// unreadableUsers is a users collection whose reads of one record fail.
type unreadableUsers struct{ store.Collection[store.User] }

func (unreadableUsers) Get(context.Context, string) (store.User, error) {
	return store.User{}, errDiskRead
}

// unreadableTenant is a transaction's tenant whose users cannot be read
// one by one.
type unreadableTenant struct{ store.Tenant }

func (t unreadableTenant) Users() store.Collection[store.User] {
	return unreadableUsers{t.Tenant.Users()}
}

// unreadableTrail runs each change in a transaction of st through an
// unreadableTenant, and keeps the events it would record.
type unreadableTrail struct {
	st     *sqldb.DB
	events []audit.Event
}

func (u *unreadableTrail) InTx(ctx context.Context, change func(store.Tenant) ([]audit.Event, error)) (int64, error) {
	return 0, u.st.InTx(ctx, func(tx store.Tenant) error {
		evs, err := change(unreadableTenant{tx})
		u.events = evs
		return err
	})
}

// TestUnreadableRecordChangesNothing: when the record a change is about
// cannot be read for its audit record (a failing disk, not a record that
// is not there), the change is refused and nothing changes. Before, the
// failed read passed for absence: with both reads failing the change was
// made and no record of it written, and with one failing it was recorded
// as an addition or a removal.
func TestUnreadableRecordChangesNothing(t *testing.T) {
	st := storetest.OpenSQLite(t)
	ctx := context.Background()
	if err := st.Users().Create(ctx, store.User{Username: "alice", Email: "alice@acme.example"}); err != nil {
		t.Fatal(err)
	}
	f, err := config.Parse(strings.NewReader(`tenant: acme
users:
  - {username: alice, email: alice@new.example}
`), "acme.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Validate(builtinTools); err != nil {
		t.Fatal(err)
	}
	trail := &unreadableTrail{st: st}
	if _, err := applyAudited(ctx, st, trail, "someone", f, nil); !errors.Is(err, errDiskRead) {
		t.Fatalf("apply with alice unreadable: %v, want the read's error", err)
	}
	u, err := st.Users().Get(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if u.Email != "alice@acme.example" {
		t.Errorf("alice's email is %q: the change was made though it could not be recorded", u.Email)
	}
}
