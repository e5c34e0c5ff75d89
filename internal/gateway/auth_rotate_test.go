package gateway_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/gateway"
	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestRotateNowRefusesCachedTokens: `keys rotate --now` withdraws a
// compromised signing key so that the tokens it signed are refused from
// then on (README): at /mcp, a token the gateway has seen and cached before
// the rotation too, within the revocation recheck.
func TestRotateNowRefusesCachedTokens(t *testing.T) {
	e := newEnv(t, envOptions{})
	seen := e.token("alice", "acme-assistant")   // used before the rotation
	unseen := e.token("alice", "acme-assistant") // never used before it
	if resp := post(t, e.resource, map[string]string{"Authorization": "Bearer " + seen}); resp.StatusCode != http.StatusOK {
		t.Fatalf("before the rotation: %d", resp.StatusCode)
	}
	if err := e.keys.RotateNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	if resp := post(t, e.resource, map[string]string{"Authorization": "Bearer " + unseen}); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a token of the withdrawn key, not seen before: %d, want 401", resp.StatusCode)
	}
	time.Sleep(gateway.RevocationRecheck + 100*time.Millisecond)
	if resp := post(t, e.resource, map[string]string{"Authorization": "Bearer " + seen}); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a token of the withdrawn key, seen before the rotation: %d, want 401", resp.StatusCode)
	}
}

// TestRotateNowSilencesSessions: a session whose token was signed by a key
// withdrawn since (keys rotate --now) hears no more of its subscriptions.
func TestRotateNowSilencesSessions(t *testing.T) {
	up := mcp.NewServer(&mcp.Implementation{Name: "notes", Version: "1"}, &mcp.ServerOptions{
		SubscribeHandler:   func(context.Context, *mcp.SubscribeRequest) error { return nil },
		UnsubscribeHandler: func(context.Context, *mcp.UnsubscribeRequest) error { return nil },
	})
	addEcho(up, "Echoes its text")
	up.AddResource(&mcp.Resource{URI: "file:///notes.txt", Name: "notes"}, func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, Text: "notes"}}}, nil
	})
	e := newEnv(t, serveUpstream(t, up, "echo"))
	ctx := context.Background()
	got := &collected{}
	alice := e.connectToken(e.token("alice", "acme-assistant"), "2025-11-25", &mcp.ClientOptions{
		ResourceUpdatedHandler: func(_ context.Context, r *mcp.ResourceUpdatedNotificationRequest) { got.add(r.Params.URI) },
	})
	waitFor(t, "alice's resources", func() bool {
		rl, err := alice.ListResources(ctx, nil)
		return err == nil && len(rl.Resources) == 1
	})
	if err := alice.Subscribe(ctx, &mcp.SubscribeParams{URI: "file:///notes.txt"}); err != nil {
		t.Fatal(err)
	}
	if err := up.ResourceUpdated(ctx, &mcp.ResourceUpdatedNotificationParams{URI: "file:///notes.txt"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "alice's update", func() bool { return len(got.all()) == 1 })

	if err := e.keys.RotateNow(ctx); err != nil {
		t.Fatal(err)
	}
	if err := up.ResourceUpdated(ctx, &mcp.ResourceUpdatedNotificationParams{URI: "file:///notes.txt"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if n := len(got.all()); n != 1 {
		t.Errorf("the session of a token whose key was withdrawn heard %d updates, want the 1 before", n)
	}
}

// TestRotateNowElsewhereRefusedWithinSeconds: a key withdrawn by another
// process ('keys rotate --now' runs in the CLI) is refused at /mcp once
// the gateway's poll has seen the tenant change, a token seen and cached
// before as well: within seconds, not at the server's next background
// reload, which may be 10 s away (and which nothing runs here).
func TestRotateNowElsewhereRefusedWithinSeconds(t *testing.T) {
	e := newEnv(t, envOptions{})
	seen := e.token("alice", "acme-assistant")
	if resp := post(t, e.resource, map[string]string{"Authorization": "Bearer " + seen}); resp.StatusCode != http.StatusOK {
		t.Fatalf("before the rotation: %d", resp.StatusCode)
	}
	cli, err := keys.Open(context.Background(), e.st, e.sealer, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cli.RotateNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		resp := post(t, e.resource, map[string]string{"Authorization": "Bearer " + seen})
		if resp.StatusCode == http.StatusUnauthorized {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("a token of a key withdrawn elsewhere 3 s ago: %d, want 401", resp.StatusCode)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
