package cli

import (
	"context"

	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/server"
)

type keyManager = *keys.Manager

func withKeys(env *Env, sf storeFlags, fn func(ctx context.Context, ks keyManager) error) error {
	ctx, stop := signalContext()
	defer stop()
	st, err := server.OpenStore(ctx, sf.o)
	if err != nil {
		return err
	}
	defer st.Close()
	ks, err := server.OpenKeys(ctx, st, sf.o)
	if err != nil {
		return err
	}
	return fn(ctx, ks)
}
