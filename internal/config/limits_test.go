package config_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/storetest"
)

// TestToolCallsPerMinute: limits.tool_calls_per_minute is refused at its
// line out of bounds (or not a whole number); in bounds, apply stores it as
// the gateway reads it, says so in its plan, and a file without it (or with
// 0) lifts the bound.
func TestToolCallsPerMinute(t *testing.T) {
	for _, v := range []string{"-1", "1000001", "99999999999999999999"} {
		_, err := parse(t, "tenant: acme\nlimits:\n  tool_calls_per_minute: "+v+"\n")
		want := []string{`t.yaml:3: limits.tool_calls_per_minute: want 0 (no bound) to 1000000`}
		if v == "99999999999999999999" {
			if err == nil {
				t.Errorf("%s: no error", v)
			}
			continue
		}
		if diff := cmp.Diff(want, problems(t, err)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", v, diff)
		}
	}
	for _, v := range []string{"1.5", "12e1", "many", "\"12\""} {
		_, err := parse(t, "tenant: acme\nlimits:\n  tool_calls_per_minute: "+v+"\n")
		want := []string{`t.yaml:3: limits.tool_calls_per_minute: must be a whole number`}
		if diff := cmp.Diff(want, problems(t, err)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", v, diff)
		}
	}

	st := storetest.OpenSQLite(t)
	ctx := context.Background()
	setting := func() string {
		v, err := st.Setting(ctx, store.SettingToolCallsPerMinute)
		if errors.Is(err, store.ErrNotFound) {
			return "(none)"
		}
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	plan := applySource(t, st, "tenant: acme\nlimits:\n  tool_calls_per_minute: 120\n")
	if !slices.Contains(plan, "~ setting "+store.SettingToolCallsPerMinute) || setting() != "120" {
		t.Errorf("apply 120: plan %q, stored %q", plan, setting())
	}
	if plan := applySource(t, st, "tenant: acme\nlimits:\n  tool_calls_per_minute: 120\n"); len(plan) != 0 {
		t.Errorf("applying again changes %q", plan)
	}
	applySource(t, st, "tenant: acme\nlimits:\n  tool_calls_per_minute: 0\n")
	if setting() != "" {
		t.Errorf("0: stored %q, want no bound", setting())
	}
	applySource(t, st, "tenant: acme\nlimits:\n  tool_calls_per_minute: 5\n")
	applySource(t, st, "tenant: acme\n")
	if setting() != "" {
		t.Errorf("a file without limits: stored %q, want no bound", setting())
	}
}

// limits.tool_calls_per_minute_per_person is checked as the bound per
// agent is, stored apart from it, and lifted by a file without it.
func TestToolCallsPerMinutePerPerson(t *testing.T) {
	_, err := parse(t, "tenant: acme\nlimits:\n  tool_calls_per_minute_per_person: 1000001\n")
	want := []string{`t.yaml:3: limits.tool_calls_per_minute_per_person: want 0 (no bound) to 1000000`}
	if diff := cmp.Diff(want, problems(t, err)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	st := storetest.OpenSQLite(t)
	ctx := context.Background()
	setting := func(name string) string {
		v, err := st.Setting(ctx, name)
		if errors.Is(err, store.ErrNotFound) {
			return ""
		}
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	plan := applySource(t, st, "tenant: acme\nlimits:\n  tool_calls_per_minute: 60\n  tool_calls_per_minute_per_person: 200\n")
	if !slices.Contains(plan, "~ setting "+store.SettingToolCallsPerMinutePerPerson) ||
		setting(store.SettingToolCallsPerMinutePerPerson) != "200" || setting(store.SettingToolCallsPerMinute) != "60" {
		t.Errorf("apply: plan %q, stored %q and %q", plan, setting(store.SettingToolCallsPerMinute), setting(store.SettingToolCallsPerMinutePerPerson))
	}
	applySource(t, st, "tenant: acme\nlimits:\n  tool_calls_per_minute: 60\n")
	if v := setting(store.SettingToolCallsPerMinutePerPerson); v != "" || setting(store.SettingToolCallsPerMinute) != "60" {
		t.Errorf("a file without the bound across agents: stored %q, want none", v)
	}
}
