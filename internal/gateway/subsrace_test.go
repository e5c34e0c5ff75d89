package gateway_test

import (
	"context"
	"slices"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestUnsubscribeBeforeAnySubscription: a client that unsubscribes from a
// resource before anyone ever subscribed to one (a client cleaning up after
// a restart, say) is answered, and the gateway goes on serving. Before,
// the gateway wrote to a map it had not made yet: the unsubscription
// panicked in the request's goroutine and took the whole gateway down.
func TestUnsubscribeBeforeAnySubscription(t *testing.T) {
	up, _, _ := notesUpstream()
	e := newEnv(t, serveUpstream(t, up, "echo"))
	alice, _ := watchNotes(t, e, "alice")
	if err := alice.Unsubscribe(context.Background(), &mcp.UnsubscribeParams{URI: "file:///notes.txt"}); err != nil {
		t.Fatal(err)
	}
	if got := toolNames(t, alice); !slices.Contains(got, "echo") {
		t.Fatalf("tools after the unsubscription: %q", got)
	}
}

// TestSubscriptionAfterUnsubscribeReleasedUpstream: a session that
// unsubscribes from a URI it never subscribed to, then subscribes to one
// and ends (DELETE), ends the upstream's subscription as any other. Before,
// the first unsubscription marked the session as watched for its end
// without anything watching it: its subscription stayed on the upstream,
// and the session in the gateway's memory, for as long as the gateway ran.
func TestSubscriptionAfterUnsubscribeReleasedUpstream(t *testing.T) {
	up, subscribed, unsubscribed := notesUpstream()
	e := newEnv(t, serveUpstream(t, up, "echo"))
	ctx := context.Background()
	// Another session's subscription first, so that the gateway's
	// bookkeeping exists, then let go of it.
	carol, _ := watchNotes(t, e, "carol")
	if err := carol.Subscribe(ctx, &mcp.SubscribeParams{URI: "file:///notes.txt"}); err != nil {
		t.Fatal(err)
	}
	carol.Close()
	waitFor(t, "carol's subscription ended", func() bool { return len(unsubscribed.all()) == 1 })
	alice, _ := watchNotes(t, e, "alice")
	if err := alice.Unsubscribe(ctx, &mcp.UnsubscribeParams{URI: "file:///other.txt"}); err != nil {
		t.Fatal(err)
	}
	if err := alice.Subscribe(ctx, &mcp.SubscribeParams{URI: "file:///notes.txt"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "alice's subscription upstream", func() bool { return len(subscribed.all()) == 2 })
	alice.Close() // DELETE
	waitFor(t, "alice's subscription ended upstream", func() bool { return len(unsubscribed.all()) == 2 })
}
