package cli

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/gateway"
	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/slip"
	"github.com/gatehouse/gatehouse/internal/store/sqldb"
)

// approveWait bounds how long approve waits for the upstream to connect
// and offer the tool (the --wait flag).
var approveWait = new(time.Duration)

// approveTool connects to the tool's upstream, as the gateway does, and
// pins the definition it serves now. Approving is an admin's decision to
// trust exactly what the upstream shows at this moment, so it must see it.
func approveTool(ctx context.Context, env *Env, st *sqldb.DB, ks *keys.Manager, trail *audit.Log, name string) error {
	if t, err := st.Tools().Get(ctx, name); err == nil && t.Upstream == "" {
		return fmt.Errorf("tool %s is not an upstream tool: nothing to approve", name)
	}
	ups, err := st.Upstreams().List(ctx)
	if err != nil {
		return err
	}
	if len(ups) == 0 {
		return fmt.Errorf("tool %q: not found, and no upstream is configured that could offer it", name)
	}
	// The gateway is only used to reach the upstreams (and to import what
	// they offer, as the server does); it serves nothing.
	base := "http://gatehouse.invalid"
	gw := &gateway.Gateway{Resource: base + "/mcp", Issuer: base, Store: st, Keys: ks,
		Slips: &slip.Minter{Issuer: base, Keys: ks, Store: st}, Audit: approver{trail}}
	if err := gw.Start(ctx); err != nil {
		return err
	}
	defer gw.Close()
	deadline := time.Now().Add(*approveWait)
	for {
		t, err := st.Tools().Get(ctx, name)
		if err == nil && t.Upstream != "" {
			served := t.UpstreamTool
			if served == "" {
				served = t.Name
			}
			i := slices.IndexFunc(gw.Upstreams(), func(u gateway.UpstreamStatus) bool { return u.Name == t.Upstream })
			if i >= 0 {
				if u := gw.Upstreams()[i]; u.Connected && slices.Contains(u.Tools, served) {
					if err := gw.Approve(ctx, name); err != nil {
						return err
					}
					fmt.Fprintf(env.Stdout, "~ tool %s (approved the definition upstream %s serves now)\n", name, t.Upstream)
					return nil
				} else if time.Now().After(deadline) {
					if !u.Connected {
						return fmt.Errorf("upstream %s did not connect within %s: %s", t.Upstream, *approveWait, u.LastError)
					}
					return fmt.Errorf("upstream %s does not serve a tool %q now", t.Upstream, served)
				}
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("tool %q: not found: no upstream offered it within %s", name, *approveWait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// approver stamps the approving admin on the gateway's audit records.
type approver struct{ trail audit.Recorder }

func (a approver) Record(ctx context.Context, e audit.Event) error {
	if e.Actor == "" {
		e.Actor = cliActor()
	}
	return a.trail.Record(ctx, e)
}
