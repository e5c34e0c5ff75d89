package sqldb

import (
	"context"
	"database/sql"
)

// Shared exposes shared to the package's tests.
func (s *DB) Shared(run func(ctx context.Context, tx *sql.Tx) error) error {
	return s.shared(context.Background(), run)
}
