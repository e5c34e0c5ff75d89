package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
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
		if h, err = confirmApproval(env, "tool "+safeText(name), r.LiveHash,
			fmt.Sprintf("gatehouse tool approve %s --hash %s", safeText(name), r.LiveHash)); err != nil {
			return err
		}
	}
	*hash = h
	return nil
}

// confirmApproval asks the admin at a terminal to approve exactly the
// definition with hash, shown just before, and returns hash when they do.
// Without a terminal it prints command, which approves exactly it, and
// approves nothing. what names the definition in the refusal.
func confirmApproval(env *Env, what, hash, command string) (string, error) {
	if !interactive(env) {
		fmt.Fprintf(env.Stdout, "\nTo approve exactly this definition, run (with the same store flags):\n  %s\n", command)
		return "", fmt.Errorf("%s: not approved: without a terminal, --hash must name the definition to approve", what)
	}
	fmt.Fprintf(env.Stdout, "Approve exactly this definition (sha256 %s)? [y/N] ", hash)
	line, _ := bufio.NewReader(env.Stdin).ReadString('\n')
	if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
		return "", fmt.Errorf("%s: not approved", what)
	}
	return hash, nil
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

// featureHash is the hash of the prompt's or template's definition the
// admin reviewed (upstream approve's --hash flag).
var featureHash = new(string)

// reviewUpstream shows every prompt and resource template of upstream
// whose changed definition awaits approval, as the servers recorded it,
// each with the command that approves exactly it.
func reviewUpstream(ctx context.Context, env *Env, st store.Tenant, upstream string) error {
	rs, err := gateway.ReviewFeatures(ctx, st, upstream)
	if err != nil {
		return err
	}
	if len(rs) == 0 {
		if _, err := st.Upstreams().Get(ctx, upstream); errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("upstream %s: not found", safeText(upstream))
		}
		fmt.Fprintf(env.Stdout, "upstream %s: no prompt or resource template awaits approval\n", safeText(upstream))
		return nil
	}
	for i, r := range rs {
		if i > 0 {
			fmt.Fprintln(env.Stdout)
		}
		renderFeatureReview(env.Stdout, r)
		fmt.Fprintf(env.Stdout, "To approve exactly this definition, run (with the same store flags):\n  %s\n", approveLine(r))
	}
	return nil
}

// approveLine is the command approving exactly r's definition, its words
// quoted for a POSIX shell. An ID the upstream began with a dash would be
// read as a flag: the flags then come first, and "--" ends them.
func approveLine(r gateway.FeatureReview) string {
	words := []string{"gatehouse", "upstream", "approve", r.Upstream, r.Kind, r.ID, "--hash", r.LiveHash}
	if strings.HasPrefix(r.ID, "-") {
		words = []string{"gatehouse", "upstream", "approve", "--hash", r.LiveHash, "--", r.Upstream, r.Kind, r.ID}
	}
	for i, w := range words {
		words[i] = shellWord(w)
	}
	return strings.Join(words, " ")
}

// shellWord is w as one word of a POSIX shell: as is when it holds only
// characters no shell reads specially, else single-quoted, and escaped
// (safeText) when it holds characters that are not printable. Only then:
// safeText also quotes a word with a double quote in it, which a shell
// would read as quoting, not as the word's.
func shellWord(w string) string {
	plain := w != ""
	for _, r := range w {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_-./:=@%+,", r)) {
			plain = false
			break
		}
	}
	if plain {
		return w
	}
	q := "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
	if safeText(strings.ReplaceAll(q, `"`, "")) == strings.ReplaceAll(q, `"`, "") {
		return q
	}
	return safeText(q)
}

// reviewFeatureApproval shows the definition of upstream's prompt or
// template (kind, id) that awaits approval and settles *hash to the hash
// the admin approves, as reviewApproval does for a tool: given with
// --hash, or confirmed at a terminal; "" when there is nothing to approve
// and no hash was given (a hash given then is refused, and recorded, by
// the approval).
func reviewFeatureApproval(ctx context.Context, env *Env, st store.Tenant, upstream, kind, id string, hash *string) error {
	if kind != gateway.FeaturePrompt && kind != gateway.FeatureTemplate {
		return fmt.Errorf("the kind is %q or %q, not %s", gateway.FeaturePrompt, gateway.FeatureTemplate, safeText(kind))
	}
	h := strings.ToLower(strings.TrimSpace(*hash))
	*hash = h
	rs, err := gateway.ReviewFeatures(ctx, st, upstream)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(rs, func(r gateway.FeatureReview) bool { return r.Kind == kind && r.ID == id })
	if i < 0 {
		// A mistyped upstream awaits nothing either: said as such, as
		// 'upstream review' says it, not as an approval already made nor
		// as a stale one to record.
		if _, err := st.Upstreams().Get(ctx, upstream); errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("upstream %s: not found", safeText(upstream))
		}
		if h == "" {
			fmt.Fprintf(env.Stdout, "%s %s (upstream %s): nothing awaits approval\n", kind, safeText(id), safeText(upstream))
		}
		return nil
	}
	r := rs[i]
	renderFeatureReview(env.Stdout, r)
	if h != "" {
		return nil
	}
	*hash, err = confirmApproval(env, kind+" "+safeText(id), r.LiveHash, approveLine(r))
	return err
}

// approveFeature pins the definition with hash, which
// reviewFeatureApproval settled ("": nothing to do), through tx.
func approveFeature(ctx context.Context, env *Env, tx store.Tenant, rec audit.Recorder, upstream, kind, id, hash string) error {
	if hash == "" {
		return nil
	}
	if err := gateway.ApproveFeature(ctx, tx, approver{rec}, upstream, kind, id, hash); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "~ upstream %s (approved %s %s with sha256 %s)\n", safeText(upstream), kind, safeText(id), hash)
	return nil
}
