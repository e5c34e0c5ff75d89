package gateway_test

//lint:file-ignore SA1019 sampling is deprecated from protocol revision 2026-07-28 on; upstreams on earlier revisions still ask for it, and the gateway carries it.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/gateway"
	"github.com/gatehouse/gatehouse/internal/store"
)

// askingUpstream serves tools that ask their caller during the call, as
// a server on the revisions with sessions does: confirm (an elicitation),
// confirm_twice (two, one after the other), summarize (sampling) and
// wait_for_answer (an elicitation it waits for as long as it takes).
func askingUpstream(t *testing.T) *httptest.Server {
	up := mcp.NewServer(&mcp.Implementation{Name: "asker", Version: "1"}, nil)
	// A question still unanswered when the test ends (a flight the test
	// left waiting) is given up then: the SDK closes a session only once
	// its handlers return, and the server's Close waits for the session.
	testDone, endTest := context.WithCancel(context.Background())
	untilTestEnds := func(ctx context.Context) (context.Context, func()) {
		ctx, cancel := context.WithCancel(ctx)
		stop := context.AfterFunc(testDone, cancel)
		return ctx, func() { stop(); cancel() }
	}
	confirm := func(ctx context.Context, ss *mcp.ServerSession, msg string) (string, error) {
		ctx, done := untilTestEnds(ctx)
		defer done()
		res, err := ss.Elicit(ctx, &mcp.ElicitParams{Message: msg, RequestedSchema: schemaOK})
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%s %v", res.Action, res.Content["ok"]), nil
	}
	type args struct {
		Amount int `json:"amount"`
	}
	mcp.AddTool(up, &mcp.Tool{Name: "confirm", Description: "Asks before it acts"},
		func(ctx context.Context, req *mcp.CallToolRequest, a args) (*mcp.CallToolResult, any, error) {
			got, err := confirm(ctx, req.Session, fmt.Sprintf("Refund %d?", a.Amount))
			if err != nil {
				return nil, nil, err
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "confirm: " + got}}}, nil, nil
		})
	mcp.AddTool(up, &mcp.Tool{Name: "confirm_twice", Description: "Asks twice"},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			first, err := confirm(ctx, req.Session, "First?")
			if err != nil {
				return nil, nil, err
			}
			second, err := confirm(ctx, req.Session, "Second?")
			if err != nil {
				return nil, nil, err
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: first + " / " + second}}}, nil, nil
		})
	mcp.AddTool(up, &mcp.Tool{Name: "progress_confirm", Description: "Reports progress around its question"},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			pt := req.Params.GetProgressToken()
			req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: pt, Progress: 1, Message: "before"})
			got, err := confirm(ctx, req.Session, "Go on?")
			if err != nil {
				return nil, nil, err
			}
			req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: pt, Progress: 2, Message: "after"})
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: got}}}, nil, nil
		})
	mcp.AddTool(up, &mcp.Tool{Name: "log_confirm", Description: "Logs around its question"},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			req.Session.Log(ctx, &mcp.LoggingMessageParams{Level: "info", Data: "before"})
			got, err := confirm(ctx, req.Session, "Go on?")
			if err != nil {
				return nil, nil, err
			}
			req.Session.Log(ctx, &mcp.LoggingMessageParams{Level: "info", Data: "after"})
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: got}}}, nil, nil
		})
	mcp.AddTool(up, &mcp.Tool{Name: "token_confirm", Description: "Asks, then answers with its progress token"},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			if _, err := confirm(ctx, req.Session, "Go on?"); err != nil {
				return nil, nil, err
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprint(req.Params.GetProgressToken())}}}, nil, nil
		})
	mcp.AddTool(up, &mcp.Tool{Name: "summarize", Description: "Asks the caller's model"},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			ctx, done := untilTestEnds(ctx)
			defer done()
			res, err := req.Session.CreateMessage(ctx, &mcp.CreateMessageParams{MaxTokens: 10,
				Messages: []*mcp.SamplingMessage{{Role: "user", Content: &mcp.TextContent{Text: "Summarize Q3"}}}})
			if err != nil {
				return nil, nil, err
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "summary: " + text(&mcp.CallToolResult{Content: []mcp.Content{res.Content}})}}}, nil, nil
		})
	up.AddPrompt(&mcp.Prompt{Name: "greeting", Description: "Asks whom to greet"},
		func(ctx context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
			got, err := confirm(ctx, req.Session, "Greet formally?")
			if err != nil {
				return nil, err
			}
			return &mcp.GetPromptResult{Messages: []*mcp.PromptMessage{{Role: "user", Content: &mcp.TextContent{Text: "greeting: " + got}}}}, nil
		})
	up.AddResource(&mcp.Resource{URI: "note://guarded", Name: "guarded", MIMEType: "text/plain"},
		func(ctx context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
			got, err := confirm(ctx, req.Session, "Open the note?")
			if err != nil {
				return nil, err
			}
			return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, MIMEType: "text/plain", Text: "note: " + got}}}, nil
		})
	us := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return up }, nil))
	t.Cleanup(us.Close)
	t.Cleanup(endTest) // before us.Close: cleanups run last first
	return us
}

var schemaOK = map[string]any{"type": "object", "properties": map[string]any{"ok": map[string]any{"type": "boolean"}}}

// waitAsking waits until cs is offered the asking upstream's tools.
func waitAsking(t *testing.T, cs *mcp.ClientSession) {
	waitFor(t, "the asking tools", func() bool {
		n := toolNames(t, cs)
		return slices.Contains(n, "confirm") && slices.Contains(n, "confirm_twice") && slices.Contains(n, "summarize") &&
			slices.Contains(n, "progress_confirm")
	})
}

func askingEnv(t *testing.T, timeout time.Duration) *env {
	us := askingUpstream(t)
	var ts []store.Tool
	for _, n := range []string{"confirm", "confirm_twice", "summarize", "progress_confirm", "token_confirm", "log_confirm"} {
		ts = append(ts, store.Tool{Name: n, Upstream: "up", Roles: []string{"sales-manager"}})
	}
	return newEnv(t, envOptions{tools: ts, upstreams: []store.Upstream{{Name: "up", URL: us.URL, CallTimeout: timeout}}})
}

// callEvents returns the trail's events of the call whose decision was
// recorded first for tool.
func callEvents(t *testing.T, e *env, tool string) []audit.Event {
	t.Helper()
	var corr string
	var out []audit.Event
	for _, ev := range e.mem.all() {
		if corr == "" && ev.Type == audit.ToolDecided && ev.Tool == tool {
			corr = ev.Correlation
		}
		if corr != "" && ev.Correlation == corr {
			out = append(out, ev)
		}
	}
	return out
}

func types(evs []audit.Event) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, ev.Type)
	}
	return out
}

// TestInputOnRetries: a caller on 2026-07-28 (the official Go client,
// which answers input-required results and retries by itself) is asked
// what the upstream asks during the call, an elicitation, two in a row,
// or a sampling request, and the upstream gets its answers. The retry is
// recorded with what was answered, never the answer's content, and is no
// new call: one decision, one slip, one result.
func TestInputOnRetries(t *testing.T) {
	e := askingEnv(t, 0)
	var asked []string
	opts := &mcp.ClientOptions{
		ElicitationHandler: func(_ context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			asked = append(asked, req.Params.Message)
			return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"ok": true}}, nil
		},
		CreateMessageHandler: func(_ context.Context, req *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
			return &mcp.CreateMessageResult{Model: "m", Role: "assistant", Content: &mcp.TextContent{Text: "sales rose"}}, nil
		},
	}
	cs := e.connectToken(e.token("alice", "acme-assistant"), "", opts)
	waitAsking(t, cs)
	if v := cs.InitializeResult().ProtocolVersion; v < "2026-07-28" {
		t.Fatalf("negotiated %s; the test is of 2026-07-28", v)
	}
	for _, c := range []struct {
		tool string
		args any
		want string
		ask  []string
	}{
		{"confirm", map[string]any{"amount": 30}, "confirm: accept true", []string{"Refund 30?"}},
		{"confirm_twice", map[string]any{}, "accept true / accept true", []string{"First?", "Second?"}},
		{"summarize", map[string]any{}, "summary: sales rose", nil},
	} {
		asked = nil
		res := call(t, cs, c.tool, c.args)
		if res.IsError || text(res) != c.want {
			t.Fatalf("%s: %v %q, want %q", c.tool, res.IsError, text(res), c.want)
		}
		if !slices.Equal(asked, c.ask) {
			t.Errorf("%s asked %q, want %q", c.tool, asked, c.ask)
		}
		evs := callEvents(t, e, c.tool)
		rounds := max(len(c.ask), 1)
		want := []string{audit.ToolDecided, audit.SlipMinted, audit.SlipRedeemed}
		for range rounds {
			want = append(want, audit.ToolInput)
		}
		want = append(want, audit.ToolResult)
		if got := types(evs); !slices.Equal(got, want) {
			t.Fatalf("%s: events %q, want %q", c.tool, got, want)
		}
		in := evs[3]
		if in.Decision != "allow" || in.Actor != "alice" || in.Agent != "acme-assistant" || in.SlipID == "" || in.SlipID != evs[0].SlipID {
			t.Errorf("%s: tool.input %+v", c.tool, in)
		}
		wantAnswer := "elicitation: accept"
		if c.ask == nil {
			wantAnswer = "sampling"
		}
		if got := fmt.Sprint(in.Detail["answers"]); got != "["+wantAnswer+"]" {
			t.Errorf("%s: answers recorded %s, want [%s]", c.tool, got, wantAnswer)
		}
		if r := evs[len(evs)-1]; r.Status != "ok" {
			t.Errorf("%s: result %+v", c.tool, r)
		}
	}
	// No answer's content reaches the trail.
	for _, ev := range e.mem.all() {
		if s := fmt.Sprintf("%+v", ev); strings.Contains(s, "sales rose") {
			t.Errorf("the trail holds an answer's content: %s", s)
		}
	}
}

// manualClient is a 2026-07-28 caller that handles input-required results
// itself.
func manualClient(e *env, sub string, more ...func(*mcp.ClientOptions)) *mcp.ClientSession {
	o := &mcp.ClientOptions{
		MultiRoundTrip: &mcp.MultiRoundTripOptions{Disabled: true},
		ElicitationHandler: func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			return nil, errors.New("not asked here")
		},
	}
	for _, f := range more {
		f(o)
	}
	return e.connectToken(e.token(sub, "acme-assistant"), "", o)
}

// TestRetriesRefused: a retry is taken only from the caller whose call it
// is, for the same tool and arguments, under a request state the gateway
// gave; any other is refused politely and recorded as a deny, and the
// call still waits for its own caller's answer.
func TestRetriesRefused(t *testing.T) {
	e := askingEnv(t, 0)
	alice := manualClient(e, "alice")
	waitAsking(t, alice)
	ctx := context.Background()
	args := map[string]any{"amount": 30}
	first, err := alice.CallTool(ctx, &mcp.CallToolParams{Name: "confirm", Arguments: args})
	if err != nil {
		t.Fatal(err)
	}
	if !first.NeedsInput() || len(first.InputRequests) != 1 || first.RequestState == "" {
		t.Fatalf("first answer: needs input %v, %d requests, state %q", first.NeedsInput(), len(first.InputRequests), first.RequestState)
	}
	var id string
	for k, r := range first.InputRequests {
		p, ok := r.(*mcp.ElicitParams)
		if !ok || p.Message != "Refund 30?" {
			t.Fatalf("asked %T %+v", r, r)
		}
		id = k
	}
	yes := mcp.InputResponseMap{id: &mcp.ElicitResult{Action: "accept", Content: map[string]any{"ok": true}}}
	carol := manualClient(e, "carol") // may call confirm too
	for _, c := range []struct {
		name string
		cs   *mcp.ClientSession
		p    *mcp.CallToolParams
	}{
		{"made-up state", alice, &mcp.CallToolParams{Name: "confirm", Arguments: args, InputResponses: yes, RequestState: "made-up"}},
		{"another caller", carol, &mcp.CallToolParams{Name: "confirm", Arguments: args, InputResponses: yes, RequestState: first.RequestState}},
		{"other arguments", alice, &mcp.CallToolParams{Name: "confirm", Arguments: map[string]any{"amount": 3000}, InputResponses: yes, RequestState: first.RequestState}},
		{"another tool", alice, &mcp.CallToolParams{Name: "summarize", Arguments: args, InputResponses: yes, RequestState: first.RequestState}},
	} {
		before := len(e.mem.all())
		res, err := c.cs.CallTool(ctx, c.p)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !res.IsError || !strings.Contains(text(res), "no longer waiting for your answer") {
			t.Fatalf("%s: %v %q", c.name, res.IsError, text(res))
		}
		evs := e.mem.all()[before:]
		if len(evs) != 1 || evs[0].Type != audit.ToolDecided || evs[0].Decision != "deny" || evs[0].Policy != gateway.PolicyRequestState {
			t.Fatalf("%s: recorded %+v", c.name, evs)
		}
	}
	// The call still waits for alice, who answers.
	res, err := alice.CallTool(ctx, &mcp.CallToolParams{Name: "confirm", Arguments: args, InputResponses: yes, RequestState: first.RequestState})
	if err != nil {
		t.Fatal(err)
	}
	if res.IsError || res.NeedsInput() || text(res) != "confirm: accept true" {
		t.Fatalf("alice's retry: %v %v %q", res.IsError, res.NeedsInput(), text(res))
	}
	// Once fetched, the outcome is gone: the same retry again is refused.
	res, err = alice.CallTool(ctx, &mcp.CallToolParams{Name: "confirm", Arguments: args, InputResponses: yes, RequestState: first.RequestState})
	if err != nil {
		t.Fatal(err)
	}
	if !res.IsError || !strings.Contains(text(res), "no longer waiting") {
		t.Fatalf("a retry of an ended call: %v %q", res.IsError, text(res))
	}
}

// TestRetryNeverComes: a caller that never answers holds the upstream's
// call only up to the call's bound; the result is recorded (a timeout)
// and a late retry is told the outcome.
func TestRetryNeverComes(t *testing.T) {
	e := askingEnv(t, 300*time.Millisecond)
	alice := manualClient(e, "alice")
	waitAsking(t, alice)
	ctx := context.Background()
	args := map[string]any{"amount": 5}
	first := askFirst(t, alice, &mcp.CallToolParams{Name: "confirm", Arguments: args})
	deadline := time.Now().Add(10 * time.Second)
	for {
		evs := callEvents(t, e, "confirm")
		if last := evs[len(evs)-1]; last.Type == audit.ToolResult {
			if last.Status != "timeout" {
				t.Fatalf("result recorded %+v", last)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no result recorded: %q", types(evs))
		}
		time.Sleep(20 * time.Millisecond)
	}
	var id string
	for k := range first.InputRequests {
		id = k
	}
	res, err := alice.CallTool(ctx, &mcp.CallToolParams{Name: "confirm", Arguments: args, RequestState: first.RequestState,
		InputResponses: mcp.InputResponseMap{id: &mcp.ElicitResult{Action: "decline"}}})
	if err != nil {
		t.Fatal(err)
	}
	if !res.IsError || !strings.Contains(text(res), "did not answer within") {
		t.Fatalf("late retry: %v %q", res.IsError, text(res))
	}
	// The trail does not say the late answer was passed on.
	evs := callEvents(t, e, "confirm")
	in := evs[len(evs)-1]
	if in.Type != audit.ToolInput || in.Detail["call_ended"] != true || len(in.Detail["answers"].([]string)) != 0 {
		t.Fatalf("the late retry recorded %+v", in)
	}
}

// TestCloseEndsAFlight: a call waiting for its caller's answer ends when
// the gateway closes, its result recorded (cancelled: the tool did not
// fail), rather than holding the upstream's request open.
func TestCloseEndsAFlight(t *testing.T) {
	e := askingEnv(t, 0)
	alice := manualClient(e, "alice")
	waitAsking(t, alice)
	askFirst(t, alice, &mcp.CallToolParams{Name: "confirm", Arguments: map[string]any{"amount": 1}})
	closed := make(chan struct{})
	go func() {
		e.gw.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(20 * time.Second):
		t.Fatal("Close waits for a call that waits for its caller")
	}
	evs := callEvents(t, e, "confirm")
	if last := evs[len(evs)-1]; last.Type != audit.ToolResult || last.Status != "cancelled" {
		t.Fatalf("events %q, last %+v", types(evs), last)
	}
}

// TestNoInputFromACallerThatCannotAnswer: a 2026-07-28 caller that
// declared neither elicitation nor sampling is not asked: the upstream is
// told, and the call ends at once, as the upstream decides.
func TestNoInputFromACallerThatCannotAnswer(t *testing.T) {
	e := askingEnv(t, 0)
	cs := e.connectToken(e.token("alice", "acme-assistant"), "", &mcp.ClientOptions{MultiRoundTrip: &mcp.MultiRoundTripOptions{Disabled: true}})
	waitAsking(t, cs)
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "confirm", Arguments: map[string]any{"amount": 1}})
	if err == nil && (res.NeedsInput() || !res.IsError) {
		t.Fatalf("answer: needs input %v, %q", res.NeedsInput(), text(res))
	}
	evs := callEvents(t, e, "confirm")
	if got := types(evs); slices.Contains(got, audit.ToolInput) || got[len(got)-1] != audit.ToolResult {
		t.Fatalf("events %q", got)
	}
}

// TestProgressAcrossRetries: the upstream's progress during a call that
// asks goes to the request waiting on the call at the time, under that
// request's own token: after the answer, the retry's.
func TestProgressAcrossRetries(t *testing.T) {
	e := askingEnv(t, 0)
	var mu sync.Mutex
	got := map[string][]string{} // token → messages
	cs := manualClient(e, "alice", func(o *mcp.ClientOptions) {
		o.ProgressNotificationHandler = func(_ context.Context, r *mcp.ProgressNotificationClientRequest) {
			mu.Lock()
			defer mu.Unlock()
			k := fmt.Sprint(r.Params.ProgressToken)
			got[k] = append(got[k], r.Params.Message)
		}
	})
	waitAsking(t, cs)
	first := askFirst(t, cs, &mcp.CallToolParams{Name: "progress_confirm", Arguments: map[string]any{}, Meta: mcp.Meta{"progressToken": "first"}})
	retryAccepted(t, cs, &mcp.CallToolParams{Name: "progress_confirm", Arguments: map[string]any{}, Meta: mcp.Meta{"progressToken": "retry"}}, first)
	waitFor(t, "the progress after the answer", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return slices.Contains(got["retry"], "after")
	})
	mu.Lock()
	defer mu.Unlock()
	for tok, msgs := range got {
		if tok != "first" && tok != "retry" {
			t.Errorf("progress under a token the caller never gave: %s %q", tok, msgs)
		}
	}
	if slices.Contains(got["first"], "after") {
		t.Errorf("progress after the answer went to the first request: %q", got["first"])
	}
}

// TestNotificationsRightAfterTheAnswer: progress and log messages the
// upstream sends the moment it has the caller's answer reach the retry
// even when the retry is slow to wait on the call (a loaded machine):
// the retry waits on the call before the answer goes on.
func TestNotificationsRightAfterTheAnswer(t *testing.T) {
	t.Cleanup(gateway.SetAnswersDelivered(func() { time.Sleep(200 * time.Millisecond) }))
	e := askingEnv(t, 0)
	var mu sync.Mutex
	var got []string
	cs := manualClient(e, "alice", func(o *mcp.ClientOptions) {
		o.ProgressNotificationHandler = func(_ context.Context, r *mcp.ProgressNotificationClientRequest) {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, "progress "+r.Params.Message)
		}
		o.LoggingMessageHandler = func(_ context.Context, r *mcp.LoggingMessageRequest) {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, fmt.Sprint("log ", r.Params.Data))
		}
	})
	waitAsking(t, cs)
	for _, c := range []struct {
		tool string
		meta mcp.Meta
		want string
	}{
		{"progress_confirm", mcp.Meta{"progressToken": "p"}, "progress after"},
		{"log_confirm", mcp.Meta{mcp.MetaKeyLogLevel: "info"}, "log after"},
	} {
		first := askFirst(t, cs, &mcp.CallToolParams{Name: c.tool, Arguments: map[string]any{}, Meta: c.meta})
		retryAccepted(t, cs, &mcp.CallToolParams{Name: c.tool, Arguments: map[string]any{}, Meta: c.meta}, first)
		waitFor(t, c.want, func() bool {
			mu.Lock()
			defer mu.Unlock()
			return slices.Contains(got, c.want)
		})
	}
}

// TestLogsAcrossRetries: what the upstream logs after the caller's answer
// reaches the retry that brought it, at the log level that request asked
// for; not the first request, which ended when the upstream asked.
func TestLogsAcrossRetries(t *testing.T) {
	e := askingEnv(t, 0)
	var mu sync.Mutex
	var got []string
	cs := manualClient(e, "alice", func(o *mcp.ClientOptions) {
		o.LoggingMessageHandler = func(_ context.Context, r *mcp.LoggingMessageRequest) {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, fmt.Sprint(r.Params.Data))
		}
	})
	waitFor(t, "log_confirm listed", func() bool { return slices.Contains(toolNames(t, cs), "log_confirm") })
	level := mcp.Meta{mcp.MetaKeyLogLevel: "info"}
	first := askFirst(t, cs, &mcp.CallToolParams{Name: "log_confirm", Arguments: map[string]any{}, Meta: level})
	retryAccepted(t, cs, &mcp.CallToolParams{Name: "log_confirm", Arguments: map[string]any{}, Meta: level}, first)
	waitFor(t, "the log message after the answer", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return slices.Contains(got, "after")
	})
}

// TestInputOnRetriesOfFeatures: an upstream's prompt or resource that
// asks during prompts/get or resources/read reaches a 2026-07-28 caller
// too; the retry is recorded (feature.input) between the request's
// decision and its result; a retry under a state the gateway never gave
// is refused and recorded.
func TestInputOnRetriesOfFeatures(t *testing.T) {
	e := askingEnv(t, 0)
	var asked []string
	cs := e.connectToken(e.token("alice", "acme-assistant"), "", &mcp.ClientOptions{
		ElicitationHandler: func(_ context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			asked = append(asked, req.Params.Message)
			return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"ok": true}}, nil
		},
	})
	waitAsking(t, cs)
	ctx := context.Background()
	waitFor(t, "the prompt listed", func() bool {
		res, err := cs.ListPrompts(ctx, nil)
		return err == nil && len(res.Prompts) == 1
	})
	p, err := cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: "greeting"})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Messages) != 1 || text(&mcp.CallToolResult{Content: []mcp.Content{p.Messages[0].Content}}) != "greeting: accept true" {
		t.Fatalf("prompt: %+v", p.Messages)
	}
	r, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "note://guarded"})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Contents) != 1 || r.Contents[0].Text != "note: accept true" {
		t.Fatalf("resource: %+v", r.Contents)
	}
	if !slices.Equal(asked, []string{"Greet formally?", "Open the note?"}) {
		t.Errorf("asked %q", asked)
	}
	for _, method := range []string{"prompts/get", "resources/read"} {
		var corr string
		var got []string
		for _, ev := range e.mem.all() {
			if corr == "" && ev.Type == audit.FeatureDecided && ev.Detail["method"] == method {
				corr = ev.Correlation
			}
			if corr != "" && ev.Correlation == corr {
				got = append(got, ev.Type+":"+ev.Decision)
			}
		}
		if want := []string{"feature.decision:allow", "feature.input:allow", "feature.result:"}; !slices.Equal(got, want) {
			t.Errorf("%s: events %q, want %q", method, got, want)
		}
	}

	manual := manualClient(e, "alice")
	before := len(e.mem.all())
	_, err = manual.ReadResource(ctx, &mcp.ReadResourceParams{URI: "note://guarded", RequestState: "made-up",
		InputResponses: mcp.InputResponseMap{"input-1": &mcp.ElicitResult{Action: "accept"}}})
	if err == nil || !strings.Contains(err.Error(), "no longer waiting for an answer") {
		t.Fatalf("a made-up state: %v", err)
	}
	evs := e.mem.all()[before:]
	if len(evs) != 1 || evs[0].Type != audit.FeatureDecided || evs[0].Decision != "deny" || evs[0].Policy != gateway.PolicyRequestState {
		t.Fatalf("recorded %+v", evs)
	}
}

// TestFeatureFlightsAreBounded: a prompts/get or resources/read that asks
// runs on as a flight after its request ended, holding the upstream's
// request open until the caller answers or the call's bound. A caller
// that never answers must not park more of them than it may have calls
// running: the flights beyond its call slots are not left waiting.
func TestFeatureFlightsAreBounded(t *testing.T) {
	defer gateway.SetMaxCallsPerCaller(2)()
	e := askingEnv(t, 0)
	alice := manualClient(e, "alice")
	waitAsking(t, alice)
	ctx := context.Background()
	// Its resources are listed after its tools: a read before is not
	// found, and waits for nothing.
	waitFor(t, "note://guarded listed", func() bool {
		rl, err := alice.ListResources(ctx, nil)
		return err == nil && slices.ContainsFunc(rl.Resources, func(r *mcp.Resource) bool { return r.URI == "note://guarded" })
	})
	waiting := 0
	for range 5 {
		r, err := alice.ReadResource(ctx, &mcp.ReadResourceParams{URI: "note://guarded"})
		if err == nil && r.NeedsInput() {
			waiting++
		}
	}
	if waiting == 0 {
		t.Fatal("no read waits for input: nothing was bounded")
	}
	if waiting > 2 {
		t.Fatalf("%d reads of one caller wait for input at once; its call slots are 2", waiting)
	}
}

// TestRetryActionNotRecordedAsSent: the trail says what kind of answer a
// retry brought (an elicitation's action) and never its content; the
// action is the caller's own string, so one that is none of the
// protocol's actions is not copied into the trail.
func TestRetryActionNotRecordedAsSent(t *testing.T) {
	e := askingEnv(t, 0)
	alice := manualClient(e, "alice")
	waitAsking(t, alice)
	ctx := context.Background()
	args := map[string]any{"amount": 7}
	first := askFirst(t, alice, &mcp.CallToolParams{Name: "confirm", Arguments: args})
	const secret = "accept; my card is 4111-1111-1111-1111"
	answers := mcp.InputResponseMap{}
	for id := range first.InputRequests {
		answers[id] = &mcp.ElicitResult{Action: secret}
	}
	if _, err := alice.CallTool(ctx, &mcp.CallToolParams{Name: "confirm", Arguments: args, InputResponses: answers, RequestState: first.RequestState}); err != nil {
		t.Logf("retry: %v", err)
	}
	for _, ev := range e.mem.all() {
		if s := fmt.Sprintf("%+v", ev); strings.Contains(s, "4111-1111") {
			t.Errorf("the trail holds what the caller sent as an action: %s", s)
		}
	}
}

// TestTwoRetriesAtOnce: while one retry of a call waits on it, its
// answers given to the upstream, a second retry under the same request
// state is refused at once, recorded as a deny: it neither waits along
// nor is recorded as bringing answers the upstream never gets.
func TestTwoRetriesAtOnce(t *testing.T) {
	answered := make(chan string, 2)
	hold := make(chan struct{})
	up := mcp.NewServer(&mcp.Implementation{Name: "holder", Version: "1"}, nil)
	mcp.AddTool(up, &mcp.Tool{Name: "confirm_hold", Description: "Asks, then works until released"},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			res, err := req.Session.Elicit(ctx, &mcp.ElicitParams{Message: "Go?", RequestedSchema: schemaOK})
			if err != nil {
				return nil, nil, err
			}
			answered <- res.Action
			select {
			case <-hold:
			case <-ctx.Done():
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "done: " + res.Action}}}, nil, nil
		})
	e := newEnv(t, serveUpstream(t, up, "confirm_hold"))
	alice := manualClient(e, "alice")
	waitFor(t, "confirm_hold listed", func() bool { return slices.Contains(toolNames(t, alice), "confirm_hold") })
	ctx := context.Background()
	first := askFirst(t, alice, &mcp.CallToolParams{Name: "confirm_hold", Arguments: map[string]any{}})
	retry := func(action string) *mcp.CallToolParams {
		answers := mcp.InputResponseMap{}
		for id := range first.InputRequests {
			answers[id] = &mcp.ElicitResult{Action: action}
		}
		return &mcp.CallToolParams{Name: "confirm_hold", Arguments: map[string]any{}, InputResponses: answers, RequestState: first.RequestState}
	}
	done := make(chan *mcp.CallToolResult, 1)
	go func() {
		res, err := alice.CallTool(ctx, retry("accept"))
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	if got := <-answered; got != "accept" {
		t.Fatalf("the upstream got %q", got)
	}
	second := make(chan *mcp.CallToolResult, 1)
	go func() {
		res, err := alice.CallTool(ctx, retry("decline"))
		if err != nil {
			t.Error(err)
		}
		second <- res
	}()
	select {
	case res := <-second:
		if res == nil || !res.IsError || !strings.Contains(text(res), "no longer waiting") {
			t.Errorf("the second retry: %+v", res)
		}
		close(hold)
	case <-time.After(5 * time.Second):
		t.Error("the second retry waits along with the first")
		close(hold)
		if res := <-second; res != nil && !res.IsError {
			t.Errorf("the second retry: %q", text(res))
		}
	}
	if res := <-done; res == nil || res.IsError || text(res) != "done: accept" {
		t.Fatalf("the first retry: %+v", res)
	}
	var inputs int
	for _, ev := range callEvents(t, e, "confirm_hold") {
		if ev.Type == audit.ToolInput {
			inputs++
		}
	}
	if inputs != 1 {
		t.Errorf("%d retries recorded as bringing answers; the upstream got one", inputs)
	}
}

// TestRequestStateStaysWithTheCaller: the request state is the caller's
// to know: the upstream's progress token for the call is another.
func TestRequestStateStaysWithTheCaller(t *testing.T) {
	e := askingEnv(t, 0)
	alice := manualClient(e, "alice")
	waitAsking(t, alice)
	waitFor(t, "token_confirm listed", func() bool { return slices.Contains(toolNames(t, alice), "token_confirm") })
	ctx := context.Background()
	first := askFirst(t, alice, &mcp.CallToolParams{Name: "token_confirm", Arguments: map[string]any{}})
	answers := acceptAll(first)
	res, err := alice.CallTool(ctx, &mcp.CallToolParams{Name: "token_confirm", Arguments: map[string]any{}, InputResponses: answers, RequestState: first.RequestState})
	if err != nil || res.IsError {
		t.Fatalf("retry: %v %v", err, res)
	}
	if got := text(res); got == "" || got == "<nil>" || got == first.RequestState {
		t.Fatalf("the upstream's progress token %q (request state %q)", got, first.RequestState)
	}
}

// TestElicitationModeTheCallerTakes: a caller that declared only URL
// elicitation is not asked to fill in a form: the upstream is told, as the
// SDK tells it on a session.
func TestElicitationModeTheCallerTakes(t *testing.T) {
	e := askingEnv(t, 0)
	cs := manualClient(e, "alice", func(o *mcp.ClientOptions) {
		o.Capabilities = &mcp.ClientCapabilities{Elicitation: &mcp.ElicitationCapabilities{URL: &mcp.URLElicitationCapabilities{}}}
	})
	waitAsking(t, cs)
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "confirm", Arguments: map[string]any{"amount": 1}})
	if err == nil && (res.NeedsInput() || !res.IsError) {
		t.Fatalf("answer: needs input %v, %q", res.NeedsInput(), text(res))
	}
}

// TestRetryDeniedAfterRolesChange: a retry is decided again; one the
// person's roles no longer allow is refused, its deny recorded before the
// call it ends records its result (cancelled).
func TestRetryDeniedAfterRolesChange(t *testing.T) {
	e := askingEnv(t, 0)
	alice := manualClient(e, "alice")
	waitAsking(t, alice)
	ctx := context.Background()
	args := map[string]any{"amount": 7}
	first := askFirst(t, alice, &mcp.CallToolParams{Name: "confirm", Arguments: args})
	if err := e.st.Users().Update(ctx, "alice", func(u store.User) (store.User, error) { u.Roles = nil; return u, nil }); err != nil {
		t.Fatal(err)
	}
	if err := e.gw.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	answers := acceptAll(first)
	res, err := alice.CallTool(ctx, &mcp.CallToolParams{Name: "confirm", Arguments: args, InputResponses: answers, RequestState: first.RequestState})
	if err != nil || !res.IsError || !strings.Contains(text(res), "don't have access") {
		t.Fatalf("retry: %v %v", err, res)
	}
	waitFor(t, "the call's result", func() bool {
		evs := callEvents(t, e, "confirm")
		return evs[len(evs)-1].Type == audit.ToolResult
	})
	var got []string
	for _, ev := range callEvents(t, e, "confirm") {
		got = append(got, ev.Type+":"+ev.Decision+ev.Status)
	}
	want := []string{"tool.decision:allow", "slip.minted:", "slip.redeemed:ok", "tool.decision:deny", "tool.result:cancelled"}
	if !slices.Equal(got, want) {
		t.Fatalf("events %q, want %q", got, want)
	}
}

// askFirst calls a tool that asks, and returns its input-required answer.
func askFirst(t *testing.T, cs *mcp.ClientSession, p *mcp.CallToolParams) *mcp.CallToolResult {
	t.Helper()
	first, err := cs.CallTool(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	if !first.NeedsInput() {
		t.Fatalf("first answer: %q", text(first))
	}
	return first
}

// retryAccepted sends p as the retry of first, each question accepted,
// and checks that the call answers "accept true".
func retryAccepted(t *testing.T, cs *mcp.ClientSession, p *mcp.CallToolParams, first *mcp.CallToolResult) {
	t.Helper()
	p.InputResponses, p.RequestState = acceptAll(first), first.RequestState
	res, err := cs.CallTool(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	if res.IsError || text(res) != "accept true" {
		t.Fatalf("retry: %v %q", res.IsError, text(res))
	}
}

// acceptAll answers each question of first: accept, ok.
func acceptAll(first *mcp.CallToolResult) mcp.InputResponseMap {
	answers := mcp.InputResponseMap{}
	for id := range first.InputRequests {
		answers[id] = &mcp.ElicitResult{Action: "accept", Content: map[string]any{"ok": true}}
	}
	return answers
}
