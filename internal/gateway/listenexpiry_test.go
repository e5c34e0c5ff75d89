package gateway_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/identity/accesstoken"
)

// TestListenEndsWithItsToken: a subscriptions/listen (2026-07-28) is one
// request, authorized once by the token that opened it, and no later
// token ever reaches it. Once that token expires the listen hears nothing
// more (mayHearOf, refreshViews), so it must end then: its client learns
// it has to listen again with a token that holds, and the upstream's
// subscription it held is released. Before, it stayed open for as long as
// its client kept the connection, hearing nothing, and the upstream stayed
// subscribed for it.
func TestListenEndsWithItsToken(t *testing.T) {
	up, _, unsubscribed := notesUpstream()
	e := newEnv(t, serveUpstream(t, up, "echo"))
	ctx := context.Background()
	tok := e.token("alice", "acme-assistant", func(c *accesstoken.Claims) { c.Expiry = time.Now().Add(3 * time.Second).Unix() })
	alice := e.connectToken(tok, "", nil)
	if v := alice.InitializeResult().ProtocolVersion; v != "2026-07-28" {
		t.Fatalf("negotiated %s", v)
	}
	waitFor(t, "alice's resources", func() bool {
		rl, err := alice.ListResources(ctx, nil)
		return err == nil && len(rl.Resources) == 1
	})
	if err := alice.Subscribe(ctx, &mcp.SubscribeParams{URI: "file:///notes.txt"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "alice's listen open", func() bool { _, listens := e.gw.Tracked(); return listens == 1 })
	waitFor(t, "the listen ended with its token", func() bool {
		views, listens := e.gw.Tracked()
		return views == 0 && listens == 0 && slices.Equal(unsubscribed.all(), []string{"file:///notes.txt"})
	})
}
