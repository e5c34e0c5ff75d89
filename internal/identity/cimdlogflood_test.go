package identity

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
)

// An address past its share of metadata fetches is refused without a
// fetch, and must stop growing the log too, as a flood of failed
// sign-ins or federated refusals does (checkPassword, the callback's
// refused): only the refusal that reaches the limit is logged. Each
// request names a new URL client_id of up to 2,000 bytes, which a
// throttled refusal does not remember, so a warning per request let
// anyone without an account write the log as fast as they send requests.
func TestMetadataFetchThrottleDoesNotFloodTheLog(t *testing.T) {
	var logs syncBuffer
	const limit = 2
	h := newHarness(t, func(p *Provider) {
		p.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		p.MetadataFetchesPerIP = limit
	})
	pad := strings.Repeat("x", 1500)
	const requests = 40
	for i := range requests {
		// 127.0.0.1 is not a public address: the fetches that are made
		// fail at once, and are logged as refused documents.
		id := fmt.Sprintf("https://127.0.0.1:1/%s/%d.json", pad, i)
		resp, err := http.Get(h.url("/authorize") + "?" + metadataAuthz(id).Encode())
		if err != nil {
			t.Fatal(err)
		}
		body(t, resp)
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("request %d: status %d, want 400", i, resp.StatusCode)
		}
	}
	lines := 0
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "client metadata") {
			lines++
		}
	}
	if lines > limit+1 {
		t.Errorf("%d requests from one address with new client_ids wrote %d log lines about metadata documents "+
			"(%d bytes of log), want at most %d: the fetches allowed and the refusal that reached the limit",
			requests, lines, len(logs.String()), limit+1)
	}
}
