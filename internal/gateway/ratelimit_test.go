package gateway_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/gateway"
	"github.com/gatehouse/gatehouse/internal/store"
)

// shiftedCounters are the store's counters on a clock moved by a test.
type shiftedCounters struct {
	gateway.Counters
	by  atomic.Int64 // ns
	err error        // when set, every count fails
}

func (s *shiftedCounters) CountAttempt(ctx context.Context, key string, now time.Time, window time.Duration) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	return s.Counters.CountAttempt(ctx, key, now.Add(time.Duration(s.by.Load())), window)
}

func (s *shiftedCounters) Attempts(ctx context.Context, key string, now time.Time) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	return s.Counters.Attempts(ctx, key, now.Add(time.Duration(s.by.Load())))
}

// limitTo sets the tenant's limits.tool_calls_per_minute and reloads.
func (e *env) limitTo(n string) {
	e.t.Helper()
	if err := e.st.SetSetting(context.Background(), store.SettingToolCallsPerMinute, n); err != nil {
		e.t.Fatal(err)
	}
	if err := e.gw.Reload(context.Background()); err != nil {
		e.t.Fatal(err)
	}
}

// A caller beyond the tenant's limits.tool_calls_per_minute is refused
// politely, the refusal recorded as a deny of policy rate-limit, and
// nothing runs; other callers, and the same person through another agent,
// are counted apart; the next minute the caller may call again. Refused
// calls count too: an agent in a loop is stopped whatever it asks.
func TestToolCallsPerMinute(t *testing.T) {
	counters := &shiftedCounters{}
	e := newEnv(t, envOptions{counters: counters})
	counters.Counters = e.st.Identity()
	e.limitTo("3")
	alice := e.connect("alice", "acme-assistant", "2025-11-25")
	month := map[string]any{"month": "2026-10"}

	if r := call(t, alice, "payroll_report", month); !r.IsError {
		t.Fatal("alice may not call payroll_report")
	}
	for i := range 2 {
		if r := call(t, alice, "sales_report", month); r.IsError {
			t.Fatalf("call %d: %s", i+2, text(r))
		}
	}
	r := call(t, alice, "sales_report", month)
	if !r.IsError || !strings.Contains(text(r), "more tool calls in the last minute than this organisation allows (3)") {
		t.Fatalf("alice's fourth call: isError %v %q", r.IsError, text(r))
	}
	var limited []audit.Event
	for _, ev := range e.mem.all() {
		if ev.Type == audit.ToolDecided && ev.Policy == gateway.PolicyRateLimit {
			limited = append(limited, ev)
		}
		if ev.Type == audit.SlipMinted && len(limited) > 0 {
			t.Errorf("a slip was minted after the refusal: %+v", ev)
		}
	}
	if len(limited) != 1 || limited[0].Decision != "deny" || limited[0].Actor != "alice" ||
		!strings.Contains(strings.Join(limited[0].Reasons, " "), "call 4 of this caller") {
		t.Fatalf("rate-limit decisions: %+v", limited)
	}

	// Counted apart: carol, and alice through another agent.
	carol := e.connect("carol", "acme-assistant", "2025-11-25")
	if r := call(t, carol, "sales_report", month); r.IsError {
		t.Errorf("carol: %s", text(r))
	}
	other := e.connect("alice", "payroll-bot", "2025-11-25")
	if r := call(t, other, "sales_report", month); !r.IsError || strings.Contains(text(r), "organisation allows") {
		t.Errorf("alice through payroll-bot (capped to payroll_report) was refused for the wrong reason: %q", text(r))
	}

	// A minute on, alice's count starts again.
	counters.by.Store(int64(time.Minute + time.Second))
	if r := call(t, alice, "sales_report", month); r.IsError {
		t.Errorf("alice a minute later: %s", text(r))
	}

	// No bound: nothing is counted.
	e.limitTo("")
	for range 5 {
		if r := call(t, alice, "sales_report", month); r.IsError {
			t.Fatalf("without a bound: %s", text(r))
		}
	}
}

// A call whose count cannot be taken is refused (deny by default), and
// recorded; without a bound the counters are never asked.
func TestToolCallsUncountedAreRefused(t *testing.T) {
	counters := &shiftedCounters{err: errors.New("database gone")}
	e := newEnv(t, envOptions{counters: counters})
	alice := e.connect("alice", "acme-assistant", "2025-11-25")
	month := map[string]any{"month": "2026-10"}
	if r := call(t, alice, "sales_report", month); r.IsError {
		t.Fatalf("without a bound: %s", text(r))
	}
	e.limitTo("100")
	r := call(t, alice, "sales_report", month)
	if !r.IsError || !strings.Contains(text(r), "could not be counted") || strings.Contains(text(r), "database gone") {
		t.Fatalf("uncounted call: isError %v %q", r.IsError, text(r))
	}
	evs := e.mem.all()
	last := evs[len(evs)-1]
	if last.Type != audit.ToolDecided || last.Decision != "deny" || last.Policy != gateway.PolicyRateLimit {
		t.Errorf("last record: %+v", last)
	}
}

// limits.tool_calls_per_minute_per_person bounds one person's tool calls
// through all agents together: a person who may register agents would
// otherwise have limits.tool_calls_per_minute once per agent. Every call
// counts, refused ones too; the refusal names the bound across agents;
// another person is counted apart, and no bound means no count.
func TestToolCallsPerMinutePerPerson(t *testing.T) {
	e := newEnv(t, envOptions{})
	limitPerson := func(n string) {
		t.Helper()
		if err := e.st.SetSetting(context.Background(), store.SettingToolCallsPerMinutePerPerson, n); err != nil {
			t.Fatal(err)
		}
		if err := e.gw.Reload(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	limitPerson("3")
	e.limitTo("100") // the bound per agent, far off
	month := map[string]any{"month": "2026-10"}
	assistant := e.connect("alice", "acme-assistant", "2025-11-25")
	bot := e.connect("alice", "payroll-bot", "2025-11-25")
	for i := range 2 {
		if r := call(t, assistant, "sales_report", month); r.IsError {
			t.Fatalf("call %d: %s", i+1, text(r))
		}
	}
	// Through another agent (capped to a tool alice may not call): refused
	// by the policy, and counted all the same.
	if r := call(t, bot, "payroll_report", month); !r.IsError || strings.Contains(text(r), "organisation allows") {
		t.Fatalf("alice through payroll-bot: %q", text(r))
	}
	r := call(t, assistant, "sales_report", month)
	if !r.IsError || !strings.Contains(text(r), "through all your agents together, than this organisation allows (3)") {
		t.Fatalf("alice's fourth call, across her agents: isError %v %q", r.IsError, text(r))
	}
	evs := e.mem.all()
	last := evs[len(evs)-1]
	if last.Type != audit.ToolDecided || last.Decision != "deny" || last.Policy != gateway.PolicyRateLimit ||
		!strings.Contains(strings.Join(last.Reasons, " "), "call 4 of this person through all agents") {
		t.Errorf("last record: %+v", last)
	}
	carol := e.connect("carol", "acme-assistant", "2025-11-25")
	if r := call(t, carol, "sales_report", month); r.IsError {
		t.Errorf("carol: %s", text(r))
	}
	limitPerson("")
	if r := call(t, assistant, "sales_report", month); r.IsError {
		t.Errorf("without the bound across agents: %s", text(r))
	}
}
