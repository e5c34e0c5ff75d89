package gateway

import "testing"

// TestPlanFeaturePins: first sight pins; the approved definition served
// changes nothing; a change awaits approval once, and its latest version
// is what awaits; the approved one served again clears what awaited.
func TestPlanFeaturePins(t *testing.T) {
	a, b, c := pinnedDef{Hash: "a"}, pinnedDef{Hash: "b"}, pinnedDef{Hash: "c"}
	k := featureKey(FeaturePrompt, "greet")
	step := func(pins featurePins, d pinnedDef, wantWithheld, wantChanged bool) featurePins {
		t.Helper()
		out, withheld, changed := planFeaturePins(pins, map[string]pinnedDef{k: d})
		if changed != wantChanged || (len(withheld) == 1) != wantWithheld {
			t.Fatalf("served %s over %+v: withheld %v, changed %v", d.Hash, pins[k], withheld, changed)
		}
		return out
	}
	p := step(featurePins{}, a, false, true)
	if p[k].Approved.Hash != "a" || p[k].Pending != nil {
		t.Fatalf("first sight: %+v", p[k])
	}
	p = step(p, a, false, false)
	before := p
	p = step(p, b, true, true)
	if p[k].Approved.Hash != "a" || p[k].Pending.Hash != "b" {
		t.Fatalf("changed: %+v", p[k])
	}
	if before[k].Pending != nil {
		t.Fatal("the plan changed the pins it was given")
	}
	p = step(p, b, false, false)
	p = step(p, c, true, true)
	if p[k].Pending.Hash != "c" {
		t.Fatalf("changed again: %+v", p[k])
	}
	p = step(p, a, false, true)
	if p[k].Approved.Hash != "a" || p[k].Pending != nil {
		t.Fatalf("back to the approved: %+v", p[k])
	}
}
