package gateway_test

import (
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/identity/accesstoken"
	"github.com/gatehouse/gatehouse/internal/store"
)

// TestTokenOfAnEarlierPerson: a person's token outlives neither its
// person nor a removal: once the person is removed /mcp refuses it (it
// used to pass as a person with no roles), and a person added again
// under the same name does not inherit it.
func TestTokenOfAnEarlierPerson(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := t.Context()
	withGrant := func(c *accesstoken.Claims) { c.GrantID = "grant-carol" }
	status := func(tok string) int { t.Helper(); return initStatus(t, e, tok) }
	// carol and her agent have been there for a while; her token is two
	// minutes old.
	ageRecords(t, e)
	old := e.token("carol", "acme-assistant", withGrant, func(c *accesstoken.Claims) { c.IssuedAt -= 120 })
	if s := status(old); s != http.StatusOK {
		t.Fatalf("carol's token: %d", s)
	}
	carol, err := e.st.Users().Get(ctx, "carol")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.Users().Delete(ctx, "carol"); err != nil {
		t.Fatal(err)
	}
	// The gateway sees the tenant change within its poll (a second).
	waitFor(t, "a removed person's token refused", func() bool { return status(old) == http.StatusUnauthorized })
	if err := e.st.Users().Create(ctx, carol); err != nil {
		t.Fatal(err)
	}
	fresh := e.token("carol", "acme-assistant", withGrant)
	waitFor(t, "the new carol's token taken", func() bool { return status(fresh) == http.StatusOK })
	if s := status(old); s != http.StatusUnauthorized {
		t.Errorf("an earlier carol's token for the new one: %d", s)
	}
}

// TestTokenOfAnEarlierMetadataClient: a client known by its metadata
// document URL, removed and stored again (the identity provider does so on
// its next use), is a new client as any other: the removed one's token is
// not taken for it. Before, metadata clients were exempt from the check.
func TestTokenOfAnEarlierMetadataClient(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := t.Context()
	const id = "https://agent.example/client.json"
	doc := store.Client{ClientID: id, Name: "Doc Agent", Kind: store.KindAgent,
		RedirectURIs: []string{"http://127.0.0.1/cb"}, Source: store.SourceMetadata}
	if err := e.st.Clients().Create(ctx, doc); err != nil {
		t.Fatal(err)
	}
	withGrant := func(c *accesstoken.Claims) { c.GrantID = "grant-carol" }
	status := func(tok string) int { t.Helper(); return initStatus(t, e, tok) }
	// carol and the client have been there for a while; her token is two
	// minutes old.
	ageRecords(t, e)
	old := e.token("carol", id, withGrant, func(c *accesstoken.Claims) { c.IssuedAt -= 120 })
	if s := status(old); s != http.StatusOK {
		t.Fatalf("carol's token for the metadata client: %d", s)
	}
	if err := e.st.Clients().Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a removed client's token refused", func() bool { return status(old) == http.StatusUnauthorized })
	if err := e.st.Clients().Create(ctx, doc); err != nil { // its next use
		t.Fatal(err)
	}
	fresh := e.token("carol", id, withGrant)
	waitFor(t, "the new client's token taken", func() bool { return status(fresh) == http.StatusOK })
	if s := status(old); s != http.StatusUnauthorized {
		t.Errorf("the removed client's token for the new one: %d", s)
	}
}

// postMCP posts one JSON-RPC message to e's /mcp with token, as a client
// speaking Streamable HTTP would.
func postMCP(t *testing.T, e *env, token, body string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("POST", e.resource, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// TestLaneOfAnEarlierPersonOrClient: a person, or a client, removed and added
// again under the same name is another caller: the new one's token does
// not open the earlier one's MCP session, and the upstream session (or
// per_caller process) the earlier one had is not handed to the new one.
func TestLaneOfAnEarlierPersonOrClient(t *testing.T) {
	for _, tt := range []struct {
		name     string
		recreate func(ctx context.Context, st store.Store) error
	}{
		{"person", func(ctx context.Context, st store.Store) error {
			return recreate(ctx, st.Users(), "carol")
		}},
		{"client", func(ctx context.Context, st store.Store) error {
			return recreate(ctx, st.Clients(), "acme-assistant")
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			up := newTestUpstream("Echoes")
			e := newEnv(t, serveUpstream(t, up, "echo"))
			ctx := t.Context()
			sessions := func() int {
				n := 0
				for range up.Sessions() {
					n++
				}
				return n
			}
			carol := e.connect("carol", "acme-assistant", "2025-11-25")
			waitFor(t, "echo listed", func() bool { return slices.Contains(toolNames(t, carol), "echo") })
			call(t, carol, "echo", map[string]any{"text": "old"})
			if n := sessions(); n != 2 {
				t.Fatalf("after carol's call the upstream has %d sessions, want the gateway's and hers", n)
			}
			if err := tt.recreate(ctx, e.st); err != nil {
				t.Fatal(err)
			}
			if err := e.gw.Reload(ctx); err != nil { // rather than wait for its poll
				t.Fatal(err)
			}
			// The new one's token on the earlier one's session.
			req, _ := http.NewRequest("POST", e.resource, strings.NewReader(`{"jsonrpc":"2.0","id":7,"method":"tools/list","params":{}}`))
			req.Header.Set("Authorization", "Bearer "+e.token("carol", "acme-assistant"))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			req.Header.Set("Mcp-Session-Id", carol.ID())
			req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				t.Errorf("the new one's token opened the earlier one's session: %s", body)
			}
			again := e.connect("carol", "acme-assistant", "2025-11-25")
			call(t, again, "echo", map[string]any{"text": "new"})
			if n := sessions(); n != 3 {
				t.Errorf("after the new one's call the upstream has %d sessions, want a new one (3)", n)
			}
		})
	}
}

// recreate removes the record named name from c and creates it again: the
// same record, another creation.
func recreate[T any](ctx context.Context, c store.Collection[T], name string) error {
	v, err := c.Get(ctx, name)
	if err != nil {
		return err
	}
	if err := c.Delete(ctx, name); err != nil {
		return err
	}
	return c.Create(ctx, v)
}

// ageRecords dates every person and client ten minutes back, as records
// that have been there a while, and has the gateway read them again.
func ageRecords(t *testing.T, e *env) {
	t.Helper()
	for _, table := range []string{"users", "clients"} {
		if _, err := e.st.SQL().Exec(e.st.Rebind("UPDATE "+table+" SET created_at = created_at - ?"),
			(10 * time.Minute).Microseconds()); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.gw.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// initStatus is the HTTP status /mcp answers an initialize with tok.
func initStatus(t *testing.T, e *env, tok string) int {
	t.Helper()
	resp := postMCP(t, e, tok, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`)
	resp.Body.Close()
	return resp.StatusCode
}
