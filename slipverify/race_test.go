package slipverify_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/gatehouse/gatehouse/slipverify"
)

// TestVerifyRacedByReplicas: one slip delivered at once to two replicas
// of a tool (two Verifiers) and several requests on each: exactly one
// Verify succeeds, every other is refused as used.
func TestVerifyRacedByReplicas(t *testing.T) {
	d := startDemoIssuer()
	defer d.Close()
	replicas := []*slipverify.Verifier{newVerifier(d, "refund"), newVerifier(d, "refund")}
	args := []byte(`{"amount":12}`)
	for round := range 50 {
		tok := d.mint("refund", string(args))
		const n = 8
		errs := make([]error, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				<-start
				_, errs[i] = replicas[i%2].Verify(context.Background(), tok, args)
			})
		}
		close(start)
		wg.Wait()
		wins := 0
		for _, err := range errs {
			switch {
			case err == nil:
				wins++
			case !errors.Is(err, slipverify.ErrUsed):
				t.Fatalf("round %d: Verify = %v, want nil or ErrUsed", round, err)
			}
		}
		if wins != 1 {
			t.Fatalf("round %d: %d of %d raced Verifies succeeded, want 1", round, wins, n)
		}
	}
}
