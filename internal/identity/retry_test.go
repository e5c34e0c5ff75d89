package identity

import "testing"

// TestRefusedPresentationSpendsNothing: a code or refresh token presented
// with a resource outside its grant, or a refresh asking for a wider
// scope, is refused without being spent, so the client's corrected retry
// works instead of being taken for a replay (which revokes the whole
// grant). A real second use is still a replay.
func TestRefusedPresentationSpendsNothing(t *testing.T) {
	h := newHarness(t)
	b := h.signedIn("alice")
	code := h.code(b, authParams("scope", "openid offline_access"))
	if r := h.redeem(code, "resource", h.srv.URL+"/elsewhere"); r.Error != "invalid_target" {
		t.Fatalf("code with a resource outside the grant: %v", r.JSON)
	}
	r := h.redeem(code)
	if r.Status != 200 || r.Refresh == "" {
		t.Fatalf("the corrected retry: %v", r.JSON)
	}
	for _, bad := range [][]string{{"resource", h.srv.URL + "/elsewhere"}, {"scope", "openid offline_access email"}} {
		if x := refresh(h, r.Refresh, bad...); x.Status == 200 {
			t.Fatalf("refresh with %v: %v", bad, x.JSON)
		}
	}
	next := refresh(h, r.Refresh)
	if next.Status != 200 || next.Refresh == "" {
		t.Fatalf("the corrected refresh: %v", next.JSON)
	}
	if x := refresh(h, r.Refresh); x.Error != "invalid_grant" {
		t.Errorf("a real replay: %v", x.JSON)
	}
	if x := refresh(h, next.Refresh); x.Error != "invalid_grant" {
		t.Errorf("the family survived a replay: %v", x.JSON)
	}
}
