package sqldb

import (
	"context"
	"fmt"
	"time"
)

// Consume marks (kind, id) used; only the first caller on any replica gets
// true. It runs outside any transaction, committing at once.
func (s *DB) Consume(ctx context.Context, kind, id string, expires time.Time) (bool, error) {
	defer s.LockWrites()()
	res, err := s.execCached(ctx, s.sql,
		"INSERT INTO consumed (kind, id, expires_at) VALUES (?, ?, ?) ON CONFLICT (kind, id) DO NOTHING",
		kind, id, expires.UnixMicro())
	if err != nil {
		return false, fmt.Errorf("consume %s: %w", kind, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("consume %s: %w", kind, err)
	}
	return n == 1, nil
}

// PurgeConsumed forgets markers that expired before now.
func (s *DB) PurgeConsumed(ctx context.Context, now time.Time) (int64, error) {
	defer s.LockWrites()()
	res, err := s.sql.ExecContext(ctx, s.Rebind("DELETE FROM consumed WHERE expires_at < ?"), now.UnixMicro())
	if err != nil {
		return 0, fmt.Errorf("purge consumed: %w", err)
	}
	return res.RowsAffected()
}
