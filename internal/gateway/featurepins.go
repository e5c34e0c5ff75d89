package gateway

// An upstream's prompts and resource templates are pinned as its tools
// are (importTools, approve.go). Their definitions — a prompt's
// description and arguments, a template's URI template, name and
// description, their titles, icons and _meta — are text an agent's model
// reads as it reads a tool's: an upstream that changes one after it was
// trusted (a rug pull) could slip instructions past the admin. So each is
// pinned to the definition first seen; a changed one is withheld (not
// listed, not got, no completions, no resource read or subscribed through
// it) until an admin approves exactly the definition a replica recorded,
// by its hash.
//
// What an upstream lists as resources is not pinned: a listing of data
// (files, records) that changes as the data does, as the contents it
// reads do, which are not pinned either.
//
// What is approved and what awaits approval is kept per upstream in one
// tenant setting (featurePinsPrefix + the upstream's name), written under
// the tenant's lock; replicas take it with the store's revision, as every
// other catalogue change (loadTenant). The memory outlives the upstream's
// removal, as its tools' does.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/slipverify"
)

// featurePinsPrefix begins the name of the setting holding an upstream's
// feature pins; the upstream's name follows.
const featurePinsPrefix = "upstream_features/"

// Kinds of pinned features, as a pin's key begins ("prompt/greet").
const (
	FeaturePrompt   = "prompt"
	FeatureTemplate = "template"
)

// featureKey is the key of a prompt's (by name) or a resource template's
// (by URI template) pin.
func featureKey(kind, id string) string { return kind + "/" + id }

// pinnedDef is a definition as pinned or awaiting approval: the SHA-256
// (hex) of its canonical JSON, and that JSON.
type pinnedDef struct {
	Hash       string          `json:"hash"`
	Definition json.RawMessage `json:"definition"`
}

// featurePin is what is approved of one prompt or template, and what a
// replica saw the upstream serve instead, when it awaits approval.
type featurePin struct {
	Approved *pinnedDef `json:"approved,omitempty"`
	Pending  *pinnedDef `json:"pending,omitempty"`
}

// featurePins are an upstream's pins by featureKey.
type featurePins map[string]featurePin

// readFeaturePins returns upstream's pins as st holds them (empty when
// none were made).
func readFeaturePins(ctx context.Context, st store.Tenant, upstream string) (featurePins, error) {
	v, err := st.Setting(ctx, featurePinsPrefix+upstream)
	switch {
	case errors.Is(err, store.ErrNotFound) || err == nil && v == "":
		return featurePins{}, nil
	case err != nil:
		return nil, fmt.Errorf("read the pinned prompts and templates of %s: %w", upstream, err)
	}
	p := featurePins{}
	if err := json.Unmarshal([]byte(v), &p); err != nil {
		return nil, fmt.Errorf("read the pinned prompts and templates of %s: %w", upstream, ErrNotPins)
	}
	return p, nil
}

// ErrNotPins: the setting of an upstream's pins does not read as pins
// (someone wrote it other than through the gateway). Nothing of that
// upstream is approved then: its prompts and templates are withheld, and
// not pinned anew over the record.
var ErrNotPins = errors.New("not a record of pins")

func writeFeaturePins(ctx context.Context, st store.Tenant, upstream string, p featurePins) error {
	b, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("pin the prompts and templates of %s: %w", upstream, err)
	}
	if err := st.SetSetting(ctx, featurePinsPrefix+upstream, string(b)); err != nil {
		return fmt.Errorf("pin the prompts and templates of %s: %w", upstream, err)
	}
	return nil
}

// featureDefs returns the pinnable definitions of f (its prompts and
// resource templates) by featureKey, each as the canonical JSON of what
// the upstream listed and its hash. One that cannot be put in canonical
// form is left out, and so withheld. Of a key the upstream lists more
// than once, the first is taken: the one the lists show (uniqueOf), so
// that what is checked against the pin is what a caller is shown, not a
// copy of the approved definition listed after it.
func featureDefs(f features) map[string]pinnedDef {
	defs := map[string]pinnedDef{}
	seen := map[string]bool{}
	add := func(key string, v any) {
		if seen[key] {
			return
		}
		seen[key] = true
		b, err := json.Marshal(v)
		if err != nil {
			return
		}
		c, err := slipverify.Canonical(b)
		if err != nil {
			return
		}
		defs[key] = pinnedDef{Hash: slipverify.Digest(c), Definition: c}
	}
	for _, p := range f.prompts {
		add(featureKey(FeaturePrompt, p.Name), p)
	}
	for _, t := range f.templates {
		add(featureKey(FeatureTemplate, t.URITemplate), t)
	}
	return defs
}

// servable reports whether the prompt or template key of c, as c last
// listed it (f), is the approved definition in the catalogue's pins: only
// then may it be shown or used. Deny by default: nothing approved (a pin
// not written yet, a store that failed) is withheld.
func (cat *catalogue) servable(c *upConn, f features, key string) bool {
	d, ok := f.defs[key]
	if !ok || cat == nil || cat.data == nil {
		return false
	}
	a := cat.data.featurePins[c.cfg.Name][key].Approved
	return a != nil && a.Hash == d.Hash
}

// planFeaturePins returns pins updated for defs, what the upstream serves
// now: a definition never seen is pinned (approved on first sight); one
// other than the approved awaits approval (newly withheld ones are
// returned, for the trail); the approved one served again clears what
// awaited. changed reports whether pins changed.
//
// What is remembered of an upstream is bounded (maxPins entries,
// maxPinBytes of definitions), as a listing is: an upstream that lists new
// names without end, a few at a time, would otherwise grow its record, and
// every reload of every replica that reads it, without end. Past the
// bound a new name is not pinned, and so withheld, and a changed
// definition's is not recorded for review (it is withheld all the same);
// full counts them.
func planFeaturePins(pins featurePins, defs map[string]pinnedDef) (out featurePins, withheld []string, changed bool, full int) {
	out = maps.Clone(pins)
	size := 0
	for _, p := range out {
		size += p.size()
	}
	for _, key := range slices.Sorted(maps.Keys(defs)) {
		d := defs[key]
		p := out[key]
		switch {
		case p.Approved == nil:
			if len(out) >= maxPins || size+len(d.Definition) > maxPinBytes {
				full++
				continue
			}
			p = featurePin{Approved: &d}
		case p.Approved.Hash == d.Hash:
			if p.Pending == nil {
				continue
			}
			p.Pending = nil
		case p.Pending != nil && p.Pending.Hash == d.Hash:
			continue
		default:
			if size-out[key].size()+len(p.Approved.Definition)+len(d.Definition) > maxPinBytes {
				full++
				continue
			}
			p.Pending = &d
			withheld = append(withheld, key)
		}
		size += p.size() - out[key].size()
		out[key] = p
		changed = true
	}
	return out, withheld, changed, full
}

// Bounds of what is remembered of one upstream's prompts and templates
// (planFeaturePins): the bounds of one listing.
var (
	maxPins     = maxListed
	maxPinBytes = maxToolListed
)

// size is what p's definitions take.
func (p featurePin) size() int {
	n := 0
	if p.Approved != nil {
		n += len(p.Approved.Definition)
	}
	if p.Pending != nil {
		n += len(p.Pending.Definition)
	}
	return n
}

// pinFeatures brings upstream's pins in line with defs, what one of its
// sessions lists now (planFeaturePins), and reports whether it wrote. What
// is to change is decided again, and written, under the tenant's lock: two
// replicas seeing a prompt first, each served another definition, must not
// both pin theirs. Each definition newly withheld is recorded.
func (g *Gateway) pinFeatures(ctx context.Context, upstream string, defs map[string]pinnedDef) (bool, error) {
	pins, err := readFeaturePins(ctx, g.Store, upstream)
	if err != nil {
		return false, err
	}
	_, _, changed, full := planFeaturePins(pins, defs)
	defer func() {
		if full > 0 {
			g.logger().Warn("gateway: the upstream's prompts and templates are more than the gateway remembers; the new or changed ones past the bound are withheld",
				"upstream", upstream, "withheld", full, "max", maxPins, "max_bytes", maxPinBytes)
		}
	}()
	if !changed {
		return false, nil
	}
	var withheld []string
	var after featurePins
	wrote := false
	// The pins and the records of what they newly withhold commit as one.
	err = g.auditedTx(ctx, func(tx store.Tenant) ([]audit.Event, error) {
		if err := tx.Lock(ctx); err != nil {
			return nil, fmt.Errorf("pin the prompts and templates of %s: %w", upstream, err)
		}
		pins, err := readFeaturePins(ctx, tx, upstream)
		if err != nil {
			return nil, err
		}
		var changed bool
		after, withheld, changed, full = planFeaturePins(pins, defs)
		wrote = changed
		if !changed {
			return nil, nil
		}
		if err := writeFeaturePins(ctx, tx, upstream, after); err != nil {
			return nil, err
		}
		var events []audit.Event
		for _, key := range withheld {
			p := after[key]
			kind, id, _ := strings.Cut(key, "/")
			detail := map[string]any{"upstream": upstream, "pinned_hash": p.Approved.Hash, "pending_hash": p.Pending.Hash}
			putName(detail, kind, id)
			events = append(events, audit.Event{Type: audit.FeatureWithheld, Status: store.ToolPending, Detail: detail})
		}
		return events, nil
	})
	if err != nil {
		return false, err
	}
	for _, key := range withheld {
		p := after[key]
		kind, id, _ := strings.Cut(key, "/")
		shown := putName(map[string]any{}, kind, id)
		g.logger().Warn("gateway: upstream "+kind+" definition changed; withheld until an admin approves it",
			"upstream", upstream, kind, shown, "pending_hash", p.Pending.Hash)
	}
	return wrote, nil
}

// FeatureReview is a prompt or resource template of an upstream whose
// definition awaits approval: the approved one and the one a replica saw
// served instead, each as the canonical JSON its SHA-256 (hex) is of. The
// JSON is the upstream's text: render it as data.
type FeatureReview struct {
	Upstream string
	Kind     string // FeaturePrompt or FeatureTemplate
	ID       string // the prompt's name, or the template's URI template
	// PinnedHash and Pinned are the approved definition.
	PinnedHash string
	Pinned     json.RawMessage
	// LiveHash and Live are the definition awaiting approval.
	LiveHash string
	Live     json.RawMessage
}

// ReviewFeatures returns upstream's prompts and resource templates whose
// definitions await approval, as the replicas recorded them, by kind and
// then ID.
func ReviewFeatures(ctx context.Context, st store.Tenant, upstream string) ([]FeatureReview, error) {
	pins, err := readFeaturePins(ctx, st, upstream)
	if err != nil {
		return nil, err
	}
	var out []FeatureReview
	for _, key := range slices.Sorted(maps.Keys(pins)) {
		p := pins[key]
		if p.Pending == nil || p.Approved == nil {
			continue
		}
		kind, id, _ := strings.Cut(key, "/")
		out = append(out, FeatureReview{Upstream: upstream, Kind: kind, ID: id,
			PinnedHash: p.Approved.Hash, Pinned: p.Approved.Definition, LiveHash: p.Pending.Hash, Live: p.Pending.Definition})
	}
	return out, nil
}

// ApproveFeature pins the definition of upstream's prompt or resource
// template (kind, id) that awaits approval, provided its hash is hash:
// the definition the admin reviewed, and nothing an upstream swapped in
// since; another is refused with ErrStaleDefinition, changing nothing
// (the refusal is recorded on rec). Every replica whose upstream serves
// the approved definition then lists and serves it again.
func ApproveFeature(ctx context.Context, st store.Tenant, rec audit.Recorder, upstream, kind, id, hash string) error {
	hash = strings.ToLower(strings.TrimSpace(hash))
	what := kind + " " + id
	if kind != FeaturePrompt && kind != FeatureTemplate {
		return fmt.Errorf("approve %s: the kind is %q or %q", what, FeaturePrompt, FeatureTemplate)
	}
	if hash == "" {
		return fmt.Errorf("approve %s: the hash of the reviewed definition is required", what)
	}
	key := featureKey(kind, id)
	detail := map[string]any{"action": "approve_upstream_" + kind, "upstream": upstream}
	putName(detail, kind, id)
	var before featurePin
	err := inTx(ctx, st, func(tx store.Tenant) error {
		if err := tx.Lock(ctx); err != nil {
			return err
		}
		pins, err := readFeaturePins(ctx, tx, upstream)
		if err != nil {
			return err
		}
		before = pins[key]
		if before.Pending == nil || before.Pending.Hash != hash {
			return ErrStaleDefinition
		}
		pins[key] = featurePin{Approved: before.Pending}
		return writeFeaturePins(ctx, tx, upstream, pins)
	})
	if errors.Is(err, ErrStaleDefinition) {
		detail["reviewed_hash"] = hash
		awaits := "nothing awaits approval"
		if before.Approved != nil {
			detail["pinned_hash"] = before.Approved.Hash
		}
		if before.Pending != nil {
			detail["live_hash"] = before.Pending.Hash
			awaits = "the definition awaiting approval has hash " + before.Pending.Hash
		}
		if before.Approved == nil && before.Pending == nil {
			awaits = "the upstream has served no such " + kind
		}
		if err := rec.Record(ctx, audit.Event{Type: audit.AdminChange, Status: "refused", Detail: detail}); err != nil {
			return fmt.Errorf("approve %s: audit: %w", what, err)
		}
		return fmt.Errorf("approve %s of upstream %s: %w: %s, not the reviewed %s", what, upstream, ErrStaleDefinition, awaits, hash)
	}
	if err != nil {
		return fmt.Errorf("approve %s of upstream %s: %w", what, upstream, err)
	}
	detail["pinned_hash"] = hash
	if before.Approved != nil {
		detail["previous_hash"] = before.Approved.Hash
	}
	if err := rec.Record(ctx, audit.Event{Type: audit.AdminChange, Status: "ok", Detail: detail}); err != nil {
		return fmt.Errorf("approve %s: audit: %w", what, err)
	}
	return nil
}
