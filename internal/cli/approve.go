package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/gateway"
	"github.com/gatehouse/gatehouse/internal/store"
)

// approveHash is the hash of the definition the admin reviewed (the
// --hash flag).
var approveHash = new(string)

// reviewApproval shows the definition of an upstream tool that awaits
// approval, as the server recorded it when its upstream served it, against
// the approved one, and settles *hash to the hash the admin approves:
// given with --hash, or confirmed at a terminal; "" when there is nothing
// to approve. It connects to no upstream: what the servers serve is what
// counts, and a copy of a stdio server started here could serve something
// else. It runs before the approval's transaction (the admin may take
// their time to answer); approveTool then pins the definition.
func reviewApproval(ctx context.Context, env *Env, st store.Tenant, trail audit.Recorder, name string, hash *string) error {
	h := strings.ToLower(strings.TrimSpace(*hash))
	*hash = ""
	if _, err := st.Tools().Get(ctx, name); errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("tool %q: not found (a server imports an upstream's tools when it connects to it)", name)
	}
	r, err := gateway.Review(ctx, st, name)
	if err != nil {
		return err
	}
	if !r.NeedsApproval() {
		if h != "" && h != r.PinnedHash {
			return refuseNothingAwaits(ctx, approver{trail}, r, h)
		}
		fmt.Fprintf(env.Stdout, "tool %s: nothing to approve: the approved definition (sha256 %s) is the one in use\n",
			safeText(name), r.PinnedHash)
		return nil
	}
	renderReview(env.Stdout, r)
	if h == "" {
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
		h = r.LiveHash
	}
	*hash = h
	return nil
}

// approveTool pins the definition with hash, which reviewApproval settled
// ("": nothing to do), through tx, recording through rec. Approving is an
// admin's decision to trust exactly what they reviewed, so a definition
// that changed again by the time the approval is written is refused.
func approveTool(ctx context.Context, env *Env, tx store.Tenant, rec audit.Recorder, name, hash string) error {
	if hash == "" {
		return nil
	}
	if err := gateway.Approve(ctx, tx, approver{rec}, name, hash); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "~ tool %s (approved the definition with sha256 %s)\n", safeText(name), hash)
	return nil
}

// refuseNothingAwaits records and returns the refusal of an approval of
// hash when r awaits none, as the gateway's refuseApproval does a stale
// one: an admin approving a definition no replica serves is as much worth
// knowing.
func refuseNothingAwaits(ctx context.Context, rec audit.Recorder, r gateway.ToolReview, hash string) error {
	if err := rec.Record(ctx, audit.Event{Type: audit.AdminChange, Tool: r.Tool, Status: "refused",
		Detail: map[string]any{"action": "approve_upstream_tool", "upstream": r.Upstream, "reviewed_hash": hash,
			"live_hash": r.LiveHash, "pinned_hash": r.PinnedHash}}); err != nil {
		return fmt.Errorf("approve %s: audit: %w", safeText(r.Tool), err)
	}
	return fmt.Errorf("tool %s: nothing awaits approval (the approved definition has sha256 %s), not one with hash %s",
		safeText(r.Tool), r.PinnedHash, safeText(hash))
}

// interactive reports whether standard input is a terminal: a character
// device other than the null device (< /dev/null is no one to ask).
func interactive(env *Env) bool {
	f, ok := env.Stdin.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	null, err := os.Stat(os.DevNull)
	return err == nil && !os.SameFile(fi, null)
}

// approver stamps the approving admin on the gateway's audit records.
type approver struct{ trail audit.Recorder }

func (a approver) Record(ctx context.Context, e audit.Event) error {
	if e.Actor == "" {
		e.Actor = cliActor()
	}
	return a.trail.Record(ctx, e)
}
