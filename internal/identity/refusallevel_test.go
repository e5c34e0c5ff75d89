package identity

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"
)

// warnings returns the WARN and ERROR lines of a text log.
func warnings(log string) []string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") {
			out = append(out, l)
		}
	}
	return out
}

// TestClientMistakesAreNotWarnings: what anyone can send (a federated
// sign-in's callback with a state of their own, an authorization request
// naming a client metadata document that cannot be had) is refused and
// logged as information, not as a warning, which an operator alerting on
// warnings would be paged by for every scanner. An upstream identity
// provider's failure is still a warning.
func TestClientMistakesAreNotWarnings(t *testing.T) {
	var logs syncBuffer
	h, up := fedHarness(t, func(p *Provider) {
		p.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	get := func(u string) {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		body(t, resp)
	}
	get(h.url("/login/okta/callback?state=made-up&code=x"))
	get(h.url("/login/okta/callback?error=access_denied"))
	get(h.url("/authorize") + "?" + metadataAuthz("https://127.0.0.1:1/client.json").Encode())
	if w := warnings(logs.String()); len(w) > 0 {
		t.Errorf("a client's mistakes logged as warnings:\n%s", strings.Join(w, "\n"))
	}
	if !strings.Contains(logs.String(), "federated sign-in refused") || !strings.Contains(logs.String(), "client metadata document refused") {
		t.Errorf("the refusals are not logged:\n%s", logs.String())
	}
	// The upstream answering with a token that does not verify is its
	// fault, or its operator's: a warning.
	up.set(func(u *fakeUpstream) { u.tamper = func(c map[string]any) { c["nonce"] = "x" } })
	body(t, fedSignIn(t, h, h.browser(), authParams()))
	if w := warnings(logs.String()); len(w) != 1 || !strings.Contains(w[0], "reason=upstream_token") {
		t.Errorf("the upstream's failure: warnings %q, want one of reason upstream_token", w)
	}
}
