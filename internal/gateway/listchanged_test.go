package gateway_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/store"
)

// listWatcher is a session that counts the notifications/tools/list_changed
// it gets.
type listWatcher struct {
	name string
	cs   *mcp.ClientSession
	got  chan struct{}
}

func watchList(e *env, sub, client string) *listWatcher {
	w := &listWatcher{name: sub, got: make(chan struct{}, 100)}
	w.cs = e.connectToken(e.token(sub, client), "2025-11-25", &mcp.ClientOptions{
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) { w.got <- struct{}{} },
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
	// Notifications go out in the background: give a wrong one time to
	// arrive.
	time.Sleep(300 * time.Millisecond)
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
