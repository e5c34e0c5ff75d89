package keys_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/storetest"
)

// TestRelabelledKeyRefused: a stored key whose algorithm was changed in
// the database (an Ed25519 key labelled RS256: the label is not under
// the seal, only the key) is refused when the keys are loaded, naming the
// key, rather than published and used under an algorithm it cannot sign
// with. Before, it went into the JWKS as an RS256 key of type OKP.
func TestRelabelledKeyRefused(t *testing.T) {
	ctx := context.Background()
	st := storetest.OpenSQLite(t)
	_, sealer := openManager(t, st, time.Now)
	all, err := st.Keys().List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var id string
	for _, k := range all {
		if k.Alg == keys.EdDSA {
			id = k.ID
			if err := st.Keys().Update(ctx, k.ID, func(old store.SigningKey) (store.SigningKey, error) {
				old.Alg = keys.RS256
				return old, nil
			}); err != nil {
				t.Fatal(err)
			}
		}
	}
	_, err = keys.Open(ctx, st, sealer, nil)
	if err == nil || !strings.Contains(err.Error(), id) || !strings.Contains(err.Error(), "RS256") {
		t.Fatalf("a relabelled key loaded: %v", err)
	}
}
