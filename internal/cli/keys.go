package cli

import (
	"context"

	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/server"
)

type keyManager = *keys.Manager

// withKeys runs fn with the store's keys, opened read-only: for listings.
func withKeys(env *Env, sf storeFlags, fn func(ctx context.Context, ks keyManager) error) error {
	ctx, stop := signalContext()
	defer stop()
	st, err := server.OpenStore(ctx, sf.o)
	if err != nil {
		return err
	}
	defer st.Close()
	ks, err := server.OpenKeysReadOnly(ctx, st, sf.o) // for listings: see openAudit
	if err != nil {
		return err
	}
	return fn(ctx, ks)
}
