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
		out, withheld, changed, _ := planFeaturePins(pins, map[string]pinnedDef{k: d})
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

// TestFeaturePinsBounded: what is remembered of an upstream is bounded in
// names and in bytes; past the bound a new name is not pinned (so it is
// withheld) and a changed definition not recorded, and both are counted.
func TestFeaturePinsBounded(t *testing.T) {
	defer func(n, b int) { maxPins, maxPinBytes = n, b }(maxPins, maxPinBytes)
	maxPins, maxPinBytes = 2, 1000
	def := func(h string, n int) pinnedDef { return pinnedDef{Hash: h, Definition: make([]byte, n)} }
	a, b, c := featureKey(FeaturePrompt, "a"), featureKey(FeaturePrompt, "b"), featureKey(FeaturePrompt, "c")
	p, _, _, full := planFeaturePins(featurePins{}, map[string]pinnedDef{a: def("a1", 10), b: def("b1", 10), c: def("c1", 10)})
	if full != 1 || len(p) != 2 || p[c].Approved != nil {
		t.Fatalf("three names under a bound of two: %d pinned, %d past the bound", len(p), full)
	}
	// A name that comes back while the record is full stays withheld;
	// the pinned ones are served as before.
	p2, _, changed, full := planFeaturePins(p, map[string]pinnedDef{a: def("a1", 10), c: def("c1", 10)})
	if changed || full != 1 || p2[c].Approved != nil {
		t.Errorf("a fourth listing: changed %v, full %d", changed, full)
	}
	// Bytes: a change too large to record is withheld unrecorded.
	p3, withheld, _, full := planFeaturePins(p, map[string]pinnedDef{a: def("a2", 990)})
	if full != 1 || len(withheld) != 0 || p3[a].Pending != nil || p3[a].Approved.Hash != "a1" {
		t.Errorf("a change past the byte bound: withheld %v, full %d, pin %+v", withheld, full, p3[a])
	}
	p4, withheld, _, full := planFeaturePins(p, map[string]pinnedDef{a: def("a2", 100)})
	if full != 0 || len(withheld) != 1 || p4[a].Pending.Hash != "a2" {
		t.Errorf("a change within the bound: withheld %v, full %d", withheld, full)
	}
}
