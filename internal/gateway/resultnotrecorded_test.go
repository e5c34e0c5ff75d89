package gateway_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/audit"
)

// resultRefused is a trail that refuses the records of calls' results
// while fail is set: the disk filled up while the tool ran.
type resultRefused struct {
	audit.Recorder
	fail atomic.Bool
}

func (r *resultRefused) Record(ctx context.Context, ev audit.Event) error {
	if ev.Type == audit.ToolResult && r.fail.Load() {
		return errors.New("audit commit: commit: database or disk is full (13)")
	}
	return r.Recorder.Record(ctx, ev)
}

// TestResultNotRecordedIsNotToldNotRun: a call whose tool ran but whose
// result the trail then refused (its disk filled up meanwhile) is not
// passed on, but its caller is not told it "was not carried out; try
// again later" either, as a call refused before it ran is: the tool has
// acted (a refund made), and an agent told so would call it again. It is
// told the tool ran and to check before calling it again.
func TestResultNotRecordedIsNotToldNotRun(t *testing.T) {
	var runs atomic.Int32
	up := mcp.NewServer(&mcp.Implementation{Name: "up", Version: "1"}, nil)
	mcp.AddTool(up, &mcp.Tool{Name: "refund", Description: "Refunds"},
		func(ctx context.Context, _ *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			runs.Add(1)
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "refunded"}}}, nil, nil
		})
	o := serveUpstream(t, up, "refund")
	o.realAudit = true
	rr := &resultRefused{}
	o.recorder = func(r audit.Recorder) audit.Recorder { rr.Recorder = r; return rr }
	e := newEnv(t, o)
	alice := e.connect("alice", "acme-assistant", "2025-11-25")
	waitFor(t, "refund listed", func() bool { return slices.Contains(toolNames(t, alice), "refund") })

	rr.fail.Store(true)
	res, err := alice.CallTool(context.Background(), &mcp.CallToolParams{Name: "refund", Arguments: map[string]any{}})
	if runs.Load() != 1 {
		t.Fatalf("the tool ran %d times, want once", runs.Load())
	}
	msg := ""
	if err != nil {
		msg = err.Error()
	} else {
		msg = text(res)
	}
	if err == nil && !res.IsError {
		t.Fatalf("the result the trail refused was passed on: %q", msg)
	}
	if strings.Contains(msg, "refunded") {
		t.Errorf("the result the trail refused was passed on: %q", msg)
	}
	if strings.Contains(msg, "not carried out") || strings.Contains(msg, "try again later") {
		t.Errorf("a call that ran is told %q: its caller would run it again", msg)
	}
	if !strings.Contains(msg, "could not be recorded in the audit trail") || !strings.Contains(msg, "before calling it again") {
		t.Errorf("a call that ran, its result not recorded: %q, want it said the result could not be recorded and to check before calling again", msg)
	}
	for _, leak := range []string{"disk is full", "commit"} {
		if strings.Contains(msg, leak) {
			t.Errorf("the caller is told the store's error: %q", msg)
		}
	}
	rr.fail.Store(false)
	if res := call(t, alice, "refund", map[string]any{}); res.IsError || text(res) != "refunded" {
		t.Errorf("a call once the trail takes its result again: %q", text(res))
	}
}
