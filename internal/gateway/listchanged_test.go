package gateway_test

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/identity/accesstoken"
	"github.com/gatehouse/gatehouse/internal/store"
)

// listWatcher is a session that counts the notifications/tools/list_changed
// it gets.
type listWatcher struct {
	name    string
	cs      *mcp.ClientSession
	got     chan struct{}
	arrived atomic.Int64 // all that came to got, taken or not
}

func (w *listWatcher) received() (string, map[string]int) {
	return w.cs.ID(), map[string]int{"notifications/tools/list_changed": int(w.arrived.Load())}
}

func watchList(e *env, sub, client string) *listWatcher {
	return watchToken(e, sub, e.token(sub, client))
}

// watchToken is watchList's session, presenting token.
func watchToken(e *env, name, token string) *listWatcher {
	w := &listWatcher{name: name, got: make(chan struct{}, 100)}
	w.cs = e.connectToken(token, "2025-11-25", &mcp.ClientOptions{
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) {
			w.got <- struct{}{}
			w.arrived.Add(1)
		},
	})
	return w
}

// expectListChanged checks that exactly the sessions in notified are told
// their list changed after change ran (and the catalogue was reloaded),
// and that what they list then is as wanted.
func expectListChanged(t *testing.T, e *env, all []*listWatcher, change func(ctx context.Context) error, notified ...*listWatcher) {
	t.Helper()
	ctx := context.Background()
	if err := change(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.gw.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	for _, w := range notified {
		select {
		case <-w.got:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s was not told the tool list changed", w.name)
		}
	}
	// Notifications go out in the background: a wrong one has arrived
	// once all that was sent has.
	ws := make([]noticeWatcher, len(all))
	for i, w := range all {
		ws[i] = w
	}
	waitDelivered(t, e, ws...)
	for _, w := range all {
		if n := len(w.got); n > 0 {
			t.Errorf("%s got %d more list_changed", w.name, n)
			for range n {
				<-w.got
			}
		}
	}
}

func TestToolListChangedPerCaller(t *testing.T) {
	e := newEnv(t, envOptions{})
	alice := watchList(e, "alice", "acme-assistant")
	bob := watchList(e, "bob", "acme-assistant")
	dave := watchList(e, "dave", "acme-assistant")
	bot := watchList(e, "bob", "payroll-bot") // capped to payroll_report
	all := []*listWatcher{alice, bob, dave, bot}
	for _, w := range all {
		toolNames(t, w.cs)
	}
	users := e.st.Users()

	// A role granted to dave changes his list only.
	expectListChanged(t, e, all, func(ctx context.Context) error {
		return users.Update(ctx, "dave", func(u store.User) (store.User, error) { u.Roles = []string{"sales-manager"}; return u, nil })
	}, dave)
	if got := toolNames(t, dave.cs); !slices.Equal(got, []string{"sales_report"}) {
		t.Errorf("dave lists %v", got)
	}

	// A role that shows no tool changes no list.
	expectListChanged(t, e, all, func(ctx context.Context) error {
		return users.Update(ctx, "dave", func(u store.User) (store.User, error) {
			u.Roles = []string{"sales-manager", "support"}
			return u, nil
		})
	})

	// A tool only hr may see: bob is told, through the assistant; through
	// the payroll bot, whose cap leaves it out, he is not, nor are the
	// others.
	expectListChanged(t, e, all, func(ctx context.Context) error {
		return e.st.Tools().Create(ctx, store.Tool{Name: "payroll_copy", Builtin: "payroll_report", Roles: []string{"hr"}})
	}, bob)
	if got := toolNames(t, bob.cs); !slices.Equal(got, []string{"payroll_copy", "payroll_report"}) {
		t.Errorf("bob lists %v", got)
	}

	// The payroll bot's cap grows to the new tool: bob's session through
	// it is told.
	expectListChanged(t, e, all, func(ctx context.Context) error {
		return e.st.Clients().Update(ctx, "payroll-bot", func(c store.Client) (store.Client, error) {
			c.Tools = []string{"payroll_copy", "payroll_report"}
			return c, nil
		})
	}, bot)

	// A changed definition of a tool tells those who see it.
	expectListChanged(t, e, all, func(ctx context.Context) error {
		return e.st.Tools().Update(ctx, "sales_report", func(tl store.Tool) (store.Tool, error) {
			tl.Description = "Monthly sales, by region"
			return tl, nil
		})
	}, alice, dave)

	// A condition that now hides the tool from EMEA: alice is told, dave
	// (no region) too, as neither sees it any more.
	expectListChanged(t, e, all, func(ctx context.Context) error {
		return e.st.Tools().Update(ctx, "sales_report", func(tl store.Tool) (store.Tool, error) {
			tl.When = `principal.region == "amer"`
			return tl, nil
		})
	}, alice, dave)
	expectListChanged(t, e, all, func(ctx context.Context) error {
		return e.st.Tools().Update(ctx, "sales_report", func(tl store.Tool) (store.Tool, error) { tl.When = ""; return tl, nil })
	}, alice, dave)

	// Alice loses her role.
	expectListChanged(t, e, all, func(ctx context.Context) error {
		return users.Update(ctx, "alice", func(u store.User) (store.User, error) { u.Roles = nil; return u, nil })
	}, alice)
	if got := toolNames(t, alice.cs); len(got) != 0 {
		t.Errorf("alice lists %v", got)
	}

	// A reload that changes nothing tells no one.
	expectListChanged(t, e, all, func(context.Context) error { return nil })
}

// TestToolListChangedForAPersonCreatedAgain: sessions of an earlier alice
// stay open after she is removed; their tokens, issued before the alice
// created again, may not list. The new alice's session, through the same
// agent with the same scopes, is told each time her list changes: the
// refusal computed for the earlier one's sessions is not taken for hers.
func TestToolListChangedForAPersonCreatedAgain(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	// alice and her agent have been there for a while; the earlier
	// alice's tokens are two minutes old.
	ageRecords(t, e)
	var all []*listWatcher
	for i := range 3 {
		tok := e.token("alice", "acme-assistant", func(c *accesstoken.Claims) {
			c.GrantID, c.IssuedAt = fmt.Sprint("grant-earlier-", i), c.IssuedAt-120
		})
		all = append(all, watchToken(e, fmt.Sprint("the earlier alice's session ", i), tok))
	}
	for _, w := range all {
		toolNames(t, w.cs)
	}

	alice, err := e.st.Users().Get(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	expectListChanged(t, e, all, func(ctx context.Context) error { return e.st.Users().Delete(ctx, "alice") })
	expectListChanged(t, e, all, func(ctx context.Context) error { return e.st.Users().Create(ctx, alice) })
	now := watchToken(e, "the new alice", e.token("alice", "acme-assistant", func(c *accesstoken.Claims) { c.GrantID = "grant-new" }))
	toolNames(t, now.cs)
	all = append(all, now)

	// Each round, the earlier alice's sessions are met first or not (the
	// views are a map): a few rounds would miss a shared refusal.
	for i := range 5 {
		name := fmt.Sprint("sales_copy_", i)
		expectListChanged(t, e, all, func(ctx context.Context) error {
			return e.st.Tools().Create(ctx, store.Tool{Name: name, Builtin: "sales_report", Roles: []string{"sales-manager"}})
		}, now)
		if got := toolNames(t, now.cs); !slices.Contains(got, name) {
			t.Errorf("the new alice lists %v, without %s", got, name)
		}
	}
}
