package cli

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/gateway"
	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/slip"
	"github.com/gatehouse/gatehouse/internal/store/sqldb"
)

// approveWait bounds how long approve waits for the upstream to connect
// and offer the tool (the --wait flag); approveHash is the hash of the
// definition the admin reviewed (the --hash flag).
var (
	approveWait = new(time.Duration)
	approveHash = new(string)
)

// approveTool connects to the tool's upstream, as the gateway does, shows
// the definition it serves now against the approved one, and pins it when
// its hash is the one the admin approves: given with --hash, or confirmed
// at a terminal. Approving is an admin's decision to trust exactly what
// they reviewed, so an upstream that serves anything else by the time the
// approval is written is refused.
func approveTool(ctx context.Context, env *Env, st *sqldb.DB, ks *keys.Manager, trail *audit.Log, name, hash string) error {
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
					return reviewAndApprove(ctx, env, gw, name, hash)
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

// reviewAndApprove shows the tool's definition change and approves the
// definition with the given hash (or, at a terminal, the one shown once
// the admin confirms it).
func reviewAndApprove(ctx context.Context, env *Env, gw *gateway.Gateway, name, hash string) error {
	hash = strings.ToLower(strings.TrimSpace(hash))
	r, err := gw.Review(ctx, name)
	if err != nil {
		return err
	}
	if !r.NeedsApproval() {
		if hash != "" && hash != r.LiveHash {
			return fmt.Errorf("tool %s: upstream %s serves the approved definition (sha256 %s), not one with hash %s",
				safeText(name), safeText(r.Upstream), r.LiveHash, safeText(hash))
		}
		fmt.Fprintf(env.Stdout, "tool %s: nothing to approve: upstream %s serves the approved definition (sha256 %s)\n",
			safeText(name), safeText(r.Upstream), r.LiveHash)
		return nil
	}
	renderReview(env.Stdout, r)
	if hash == "" {
		if !interactive(env) {
			fmt.Fprintf(env.Stdout, "\nTo approve exactly this definition, run (with the same store flags):\n  gatehouse tool approve %s --hash %s\n",
				safeText(name), r.LiveHash)
			return fmt.Errorf("tool %s: not approved: without a terminal, --hash must name the definition to approve", safeText(name))
		}
		fmt.Fprintf(env.Stdout, "Approve exactly this definition (sha256 %s)? [y/N] ", r.LiveHash)
		line, _ := bufio.NewReader(env.Stdin).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
			return fmt.Errorf("tool %s: not approved", safeText(name))
		}
		hash = r.LiveHash
	}
	if err := gw.Approve(ctx, name, hash); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "~ tool %s (approved the definition with sha256 %s)\n", safeText(name), hash)
	return nil
}

// interactive reports whether standard input is a terminal.
func interactive(env *Env) bool {
	f, ok := env.Stdin.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// approver stamps the approving admin on the gateway's audit records.
type approver struct{ trail audit.Recorder }

func (a approver) Record(ctx context.Context, e audit.Event) error {
	if e.Actor == "" {
		e.Actor = cliActor()
	}
	return a.trail.Record(ctx, e)
}
