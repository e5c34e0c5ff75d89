package cli_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/server"
)

// TestKeysRotatePrepublishes: 'keys rotate' publishes the new keys at once
// and lists them as pending; a server (here a key manager over the same
// store, with a clock of its own, and an audit writer) keeps signing with
// the current keys until their activation, then with the new ones, which
// were in the JWKS it served since the rotation. 'keys rotate --now'
// switches at once. The audit trail verifies throughout.
func TestKeysRotatePrepublishes(t *testing.T) {
	for _, b := range cliBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			c := func(args ...string) result { return must(t, run(t, nil, "", append(args, b.flags...)...)) }
			inState := func(state string) []string {
				var kids []string
				for l := range strings.Lines(c("keys", "list").stdout) {
					if f := strings.Fields(l); len(f) >= 4 && strings.TrimSuffix(f[3], ",") == state {
						kids = append(kids, f[0])
					}
				}
				slices.Sort(kids)
				return kids
			}
			verified := func(when string) {
				t.Helper()
				if v := c("audit", "verify").stdout; !strings.HasPrefix(v, "OK") {
					t.Errorf("audit verify %s: %s", when, v)
				}
			}
			c("role", "add", "auditor") // creates the store and its keys

			ctx := context.Background()
			st, err := server.OpenStore(ctx, b.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			master, err := keys.LoadMasterKey(b.opts.MasterKey, b.opts.DataDir)
			if err != nil {
				t.Fatal(err)
			}
			sealer, err := keys.NewSealer(master)
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			clock := time.Now()
			now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
			srv, err := keys.Open(ctx, st, sealer, &keys.Options{Now: now})
			if err != nil {
				t.Fatal(err)
			}
			trail := audit.New(st, srv, &audit.Options{CheckpointInterval: -1})
			defer trail.Close()
			record := func() {
				t.Helper()
				if err := trail.Record(ctx, audit.Event{Type: audit.ToolDecided, Actor: "alice", Tool: "t", Decision: "allow"}); err != nil {
					t.Fatal(err)
				}
				if _, err := trail.Checkpoint(ctx); err != nil {
					t.Fatal(err)
				}
			}
			signedBy := func() string {
				t.Helper()
				tok, err := srv.Sign(keys.EdDSA, "at+jwt", []byte(`{"sub":"alice"}`))
				if err != nil {
					t.Fatal(err)
				}
				h, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
				var hdr struct{ Kid string }
				json.Unmarshal(h, &hdr)
				return hdr.Kid
			}
			record()
			old := inState("active")

			out := c("keys", "rotate").stdout
			if !strings.Contains(out, "sign from") {
				t.Errorf("keys rotate says: %s", out)
			}
			pending := inState("pending")
			if len(pending) != 2 || slices.ContainsFunc(pending, func(k string) bool { return slices.Contains(old, k) }) {
				t.Fatalf("after keys rotate, pending keys %v (the current ones %v)", pending, old)
			}
			if list := c("keys", "list").stdout; strings.Count(list, "active until") != 2 {
				t.Errorf("the current keys are not listed as signing until the new ones activate:\n%s", list)
			}
			verified("after keys rotate")

			// The server's periodic reload: the new keys are in its JWKS at
			// once, and it signs with the current ones until they activate.
			if err := srv.Load(ctx); err != nil {
				t.Fatal(err)
			}
			jwks := string(srv.JWKS())
			for _, k := range pending {
				if !strings.Contains(jwks, `"`+k+`"`) {
					t.Errorf("the pending key %s is not in the JWKS: %s", k, jwks)
				}
			}
			if kid := signedBy(); !slices.Contains(old, kid) {
				t.Errorf("signed during the pre-publication by %s, want one of the current keys %v", kid, old)
			}
			record()
			verified("during the pre-publication")

			mu.Lock()
			clock = clock.Add(keys.DefaultPublishBeforeSigning + time.Second)
			mu.Unlock()
			if kid := signedBy(); !slices.Contains(pending, kid) {
				t.Errorf("signed after the activation by %s, want one of the new keys %v", kid, pending)
			}
			record()
			verified("after the activation")

			// --now: the new keys sign at once, the pending ones never do.
			if out := c("keys", "rotate", "--now").stdout; !strings.Contains(out, "the previous keys are withdrawn") || strings.Contains(out, "24 hours") {
				t.Errorf("keys rotate --now says: %q", out)
			}
			active := inState("active")
			if len(active) != 2 || slices.ContainsFunc(active, func(k string) bool { return slices.Contains(old, k) || slices.Contains(pending, k) }) {
				t.Fatalf("after keys rotate --now, active keys %v (before: %v, then %v)\n%s", active, old, pending, c("keys", "list").stdout)
			}
			if p := inState("pending"); len(p) != 0 {
				t.Errorf("keys still pending after keys rotate --now: %v", p)
			}
			if err := srv.Load(ctx); err != nil {
				t.Fatal(err)
			}
			if kid := signedBy(); !slices.Contains(active, kid) {
				t.Errorf("signed after rotate --now by %s, want one of %v", kid, active)
			}
			record()
			if err := trail.Close(); err != nil {
				t.Fatal(err)
			}
			verified("after keys rotate --now")
			if recs := c("audit", "export", "--type", "keys.rotated").stdout; strings.Count(recs, "\n") != 2 {
				t.Errorf("keys.rotated records, want 2:\n%s", recs)
			}
		})
	}
}
