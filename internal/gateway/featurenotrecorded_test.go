package gateway_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/store"
)

// typesRefused is a trail that refuses the records of the types in refuse
// while fail is set: the disk filled up at the moment those came.
type typesRefused struct {
	audit.Recorder
	refuse []string
	fail   atomic.Bool
}

func (r *typesRefused) Record(ctx context.Context, ev audit.Event) error {
	if r.fail.Load() && slices.Contains(r.refuse, ev.Type) {
		return errors.New("audit commit: commit: database or disk is full (13)")
	}
	return r.Recorder.Record(ctx, ev)
}

// resultRefusingEnv is a gateway in front of up (as "up", its echo
// granted to sales managers) whose trail refuses feature results while
// the returned trail's fail is set.
func resultRefusingEnv(t *testing.T, up *mcp.Server) (*env, *typesRefused) {
	us := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return up }, nil))
	t.Cleanup(us.Close)
	rr := &typesRefused{refuse: []string{audit.FeatureResult}}
	e := newEnv(t, envOptions{
		tools:     []store.Tool{{Name: "echo", Upstream: "up", Roles: []string{"sales-manager"}}},
		upstreams: []store.Upstream{{Name: "up", URL: us.URL}},
		recorder:  func(r audit.Recorder) audit.Recorder { rr.Recorder = r; return rr },
	})
	return e, rr
}

// TestFeatureResultNotRecordedIsNotToldNotRun: a prompts/get,
// resources/read or completion/complete the upstream served, but whose
// result the trail then refused, is not passed on; its caller is not told
// it "was not carried out; try again later", as a request refused before
// the upstream saw it is: the upstream did serve it (and a prompt or
// resource of an upstream may act, or ask the person, as it does). It is
// told the outcome could not be recorded, and to check before sending it
// again. Before, it was told the request was not carried out.
func TestFeatureResultNotRecordedIsNotToldNotRun(t *testing.T) {
	var mu sync.Mutex
	served := map[string]int{}
	up := featureUpstream(func(method string) {
		mu.Lock()
		defer mu.Unlock()
		served[method]++
	})
	e, rr := resultRefusingEnv(t, up)
	ctx := context.Background()
	alice := e.connect("alice", "acme-assistant", "2025-11-25")
	waitFor(t, "the upstream's prompt", func() bool {
		pl, err := alice.ListPrompts(ctx, nil)
		return err == nil && len(pl.Prompts) == 1
	})
	rr.fail.Store(true)
	for _, tt := range []struct {
		method string
		send   func() error
	}{
		{"prompts/get", func() error {
			_, err := alice.GetPrompt(ctx, &mcp.GetPromptParams{Name: "greet", Arguments: map[string]string{"name": "Bob"}})
			return err
		}},
		{"resources/read", func() error {
			_, err := alice.ReadResource(ctx, &mcp.ReadResourceParams{URI: "file:///notes.txt"})
			return err
		}},
		{"completion/complete", func() error {
			_, err := alice.Complete(ctx, &mcp.CompleteParams{
				Ref:      &mcp.CompleteReference{Type: "ref/prompt", Name: "greet"},
				Argument: mcp.CompleteParamsArgument{Name: "name", Value: "Bo"},
			})
			return err
		}},
	} {
		err := tt.send()
		mu.Lock()
		n := served[tt.method]
		mu.Unlock()
		if n != 1 {
			t.Fatalf("%s: the upstream served it %d times, want once", tt.method, n)
		}
		if err == nil {
			t.Errorf("%s: the result the trail refused was passed on", tt.method)
			continue
		}
		msg := err.Error()
		if strings.Contains(msg, "not carried out") || strings.Contains(msg, "try again later") {
			t.Errorf("%s the upstream served is told %q", tt.method, msg)
		}
		if !strings.Contains(msg, "could not be recorded in the audit trail") || !strings.Contains(msg, "before sending it again") {
			t.Errorf("%s served, its result not recorded: %q, want it said the outcome could not be recorded and to check before sending it again", tt.method, msg)
		}
		for _, leak := range []string{"disk is full", "commit", "secret notes", "Say hello"} {
			if strings.Contains(msg, leak) {
				t.Errorf("%s: the caller is told %q", tt.method, msg)
			}
		}
	}
	rr.fail.Store(false)
	if res, err := alice.ReadResource(ctx, &mcp.ReadResourceParams{URI: "file:///notes.txt"}); err != nil || len(res.Contents) != 1 || res.Contents[0].Text != "secret notes" {
		t.Errorf("a read once the trail takes its result again: %v", err)
	}
}

// TestSubscriptionNotRecordedIsUndone: a resources/subscribe the upstream
// took, but whose result the trail then refused, is refused to its caller
// (it is not told it is subscribed), and the upstream is unsubscribed
// again: no session holds the subscription, and nothing else would ever
// end it. Before, the upstream stayed subscribed for no one.
func TestSubscriptionNotRecordedIsUndone(t *testing.T) {
	up, subscribed, unsubscribed := notesUpstream()
	e, rr := resultRefusingEnv(t, up)
	alice, _ := watchNotes(t, e, "alice")
	rr.fail.Store(true)
	err := alice.Subscribe(context.Background(), &mcp.SubscribeParams{URI: "file:///notes.txt"})
	if err == nil || !strings.Contains(err.Error(), "could not be recorded in the audit trail") {
		t.Fatalf("a subscription whose result the trail refused: %v", err)
	}
	if got := subscribed.all(); len(got) != 1 {
		t.Fatalf("the upstream was subscribed %q", got)
	}
	waitFor(t, "the upstream unsubscribed", func() bool { return slices.Equal(unsubscribed.all(), []string{"file:///notes.txt"}) })
}
