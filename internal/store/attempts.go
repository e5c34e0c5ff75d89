package store

import (
	"context"
	"time"
)

// AttemptCounter counts attempts under a key in fixed windows, across
// replicas: the identity store's counters (IdentityStore).
type AttemptCounter interface {
	CountAttempt(ctx context.Context, key string, now time.Time, window time.Duration) (int, error)
	Attempts(ctx context.Context, key string, now time.Time) (int, error)
}

// CountUnlessPast counts an attempt under key in a window, unless the key
// is already past limit in its window: then it writes nothing and answers
// as if it had counted (one more than stored). A caller past a limit
// thus costs a read, not a write — a commit, and on PostgreSQL a wait for
// the one row all its requests update, holding a connection of the pool.
// Concurrent requests under the limit may each count.
func CountUnlessPast(ctx context.Context, c AttemptCounter, key string, limit int, now time.Time, window time.Duration) (int, error) {
	n, err := c.Attempts(ctx, key, now)
	if err != nil {
		return 0, err
	}
	if n > limit {
		return n + 1, nil
	}
	return c.CountAttempt(ctx, key, now, window)
}
