package gateway_test

import (
	"bufio"
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/gateway"
	"github.com/gatehouse/gatehouse/internal/identity/accesstoken"
	"github.com/gatehouse/gatehouse/internal/store"
)

// TestRevokedSessionStreamHearsNoListChanged: a session's standalone
// stream (GET), opened while its token was good, must hear nothing once
// that token is revoked, as resources/updated already does not
// (mayHearOf: "A token revoked since the session last used it hears no
// more"). Whoever holds the revoked token (a stolen one, revoked for
// that reason) must not keep learning, for up to the session timeout,
// when alice's tool list changes.
func TestRevokedSessionStreamHearsNoListChanged(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	tok := e.token("alice", "acme-assistant", func(c *accesstoken.Claims) { c.GrantID = "grant-stolen" })
	const version = "2025-11-25"
	resp, body := e.rawMCP(t, tok, "", "", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"`+version+`","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`)
	sid := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != 200 || sid == "" {
		t.Fatalf("initialize: %d %q", resp.StatusCode, body)
	}
	e.rawMCP(t, tok, sid, version, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	if resp, body := e.rawMCP(t, tok, sid, version, `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`); resp.StatusCode != 200 {
		t.Fatalf("tools/list: %d %q", resp.StatusCode, body)
	}

	// The standalone stream, opened before the revocation.
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, _ := http.NewRequestWithContext(sctx, "GET", e.resource, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Mcp-Session-Id", sid)
	req.Header.Set("Mcp-Protocol-Version", version)
	stream, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	if stream.StatusCode != 200 {
		t.Fatalf("GET: %d", stream.StatusCode)
	}
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(stream.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()

	// The token's grant is revoked; the gateway knows it at /mcp.
	if err := e.st.Identity().Revoke(ctx, store.RevokedGrant, "grant-stolen", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(gateway.RevocationRecheck + 200*time.Millisecond)
	if resp, _ := e.rawMCP(t, tok, sid, version, `{"jsonrpc":"2.0","id":3,"method":"tools/list"}`); resp.StatusCode != 401 {
		t.Fatalf("the revoked token still works at /mcp: %d", resp.StatusCode)
	}

	// alice's tool list changes.
	if err := e.st.Users().Update(ctx, "alice", func(u store.User) (store.User, error) { u.Roles = []string{"hr"}; return u, nil }); err != nil {
		t.Fatal(err)
	}
	if err := e.gw.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(2 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				return // the stream ended: nothing more reaches the token's holder
			}
			if strings.HasPrefix(l, "data:") {
				t.Fatalf("the stream of a revoked token still receives notifications: %s", l)
			}
		case <-deadline:
			return
		}
	}
}

// swappable is a bearer whose token can be changed, as a client's after
// it signs in again.
type swappable struct {
	mu    sync.Mutex
	token string
}

func (s *swappable) set(tok string) { s.mu.Lock(); s.token = tok; s.mu.Unlock() }

func (s *swappable) RoundTrip(r *http.Request) (*http.Response, error) {
	s.mu.Lock()
	tok := s.token
	s.mu.Unlock()
	return bearer{token: tok}.RoundTrip(r)
}

// TestRevokedSessionToldOnItsNextToken: a session whose token was revoked
// is told nothing of a change of its person's tool list, but once its
// client signs in again and uses the session with its new token, it is
// told the list changed since it last heard, as a session whose token
// expired is. Before, the change was taken as told: the client kept the
// list it had, without a word.
func TestRevokedSessionToldOnItsNextToken(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	bt := &swappable{token: e.token("alice", "acme-assistant", func(c *accesstoken.Claims) { c.GrantID = "grant-old" })}
	got := make(chan struct{}, 10)
	client := mcp.NewClient(&mcp.Implementation{Name: "test-agent", Version: "1"}, &mcp.ClientOptions{
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) { got <- struct{}{} },
	})
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: e.resource, HTTPClient: &http.Client{Transport: bt}},
		&mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	if names := toolNames(t, cs); !slices.Equal(names, []string{"sales_report"}) {
		t.Fatalf("alice lists %v", names)
	}

	if err := e.st.Identity().Revoke(ctx, store.RevokedGrant, "grant-old", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(gateway.RevocationRecheck + 200*time.Millisecond)
	if err := e.st.Users().Update(ctx, "alice", func(u store.User) (store.User, error) { u.Roles = []string{"hr"}; return u, nil }); err != nil {
		t.Fatal(err)
	}
	if err := e.gw.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-got:
		t.Fatal("a session with a revoked token was told its list changed")
	case <-time.After(500 * time.Millisecond):
	}

	// alice signs in again; her client goes on with the session.
	bt.set(e.token("alice", "acme-assistant", func(c *accesstoken.Claims) { c.GrantID = "grant-new" }))
	if err := cs.Ping(ctx, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("the session was never told its tool list changed while its token was revoked")
	}
}
