package keys_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/keys"
)

// TestWithdrawnKeyStaysWithdrawnWhenClockLags: RotateNow withdraws a
// compromised key at the rotating process's "now", and drops its private
// half. A replica whose clock lags the rotator's (a few seconds of skew),
// or any process after its clock stepped back (an NTP correction, a VM
// restored), must not publish that key again nor accept what it signs when
// it loads the keys: a token forged with the stolen key would pass.
func TestWithdrawnKeyStaysWithdrawnWhenClockLags(t *testing.T) {
	ctx := context.Background()
	for _, lag := range []time.Duration{5 * time.Second, time.Hour} {
		open := onOneStore(t)
		replicaClock := &testClock{t: time.Now()}
		cliClock := &testClock{t: replicaClock.Now().Add(lag)}
		replica, cli := open(replicaClock), open(cliClock)
		// What the compromised key signs: the thief's forgery looks the same.
		forged, err := replica.Sign(keys.EdDSA, "", []byte(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		if err := cli.RotateNow(ctx); err != nil {
			t.Fatal(err)
		}
		check := func(what string, m *keys.Manager) {
			t.Helper()
			if _, err := m.Verify(forged, ""); !errors.Is(err, keys.ErrUnknownKey) {
				t.Errorf("clock %v behind the rotation, %s: a token of the key withdrawn by rotate --now verifies (err %v)", lag, what, err)
			}
			if slices.Contains(kidsIn(t, m.JWKS()), kidOf(t, forged)) {
				t.Errorf("clock %v behind the rotation, %s: the withdrawn key %s is published again", lag, what, kidOf(t, forged))
			}
			if _, err := m.VerifyArchived(forged, ""); err != nil {
				t.Errorf("clock %v behind the rotation, %s: the archive no longer verifies the withdrawn key's signature: %v", lag, what, err)
			}
		}
		if err := replica.Load(ctx); err != nil {
			t.Fatal(err)
		}
		check("after a reload", replica)
		check("after a restart", open(replicaClock))
		// The rotating process itself, after its clock stepped back.
		cliClock.Advance(-lag - time.Second)
		if err := cli.Load(ctx); err != nil {
			t.Fatal(err)
		}
		check("the rotator after a step back", cli)
	}
}
