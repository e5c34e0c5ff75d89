package identity

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// A fetch aborted because its requester went away is not a refusal of the
// document: it must not be remembered as one for everybody else. Here an
// unauthenticated party asks /authorize with a legitimate metadata client_id
// and hangs up while the document is being fetched; the person who then
// uses that client must still get the consent page.
func TestClientIDMetadataRequesterAbortDoesNotPoisonCache(t *testing.T) {
	m := newMetadataServer(t)
	arrived, aborted := make(chan struct{}), make(chan struct{})
	var first atomic.Bool
	good := jsonDoc(map[string]any{"client_name": "Legit", "redirect_uris": []string{"http://127.0.0.1/cb"}})
	m.docs["/legit.json"] = good
	inner := m.srv.Config.Handler
	m.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/legit.json" && first.CompareAndSwap(false, true) {
			close(arrived)
			// The first fetch stalls (a slow network) until the requester
			// that caused it hangs up.
			<-r.Context().Done()
			close(aborted)
			return
		}
		inner.ServeHTTP(w, r)
	})
	h := metadataHarness(t, m)
	id := m.srv.URL + "/legit.json"

	// The attacker: no session, hangs up once the fetch is under way. It
	// reaches the provider through a server of its own, which tells when
	// the provider is done with its request (and so with the outcome).
	served := make(chan struct{})
	atk := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(served)
		h.mux.ServeHTTP(w, r)
	}))
	t.Cleanup(atk.Close)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, atk.URL+"/authorize?"+metadataAuthz(id).Encode(), nil)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	select {
	case <-arrived:
	case <-time.After(5 * time.Second):
		t.Fatal("the document was never fetched")
	}
	cancel()
	<-done
	select {
	case <-aborted:
	case <-time.After(5 * time.Second):
		t.Fatal("the fetch was not aborted")
	}
	select {
	case <-served:
	case <-time.After(5 * time.Second):
		t.Fatal("the provider never finished the aborted request")
	}

	// The legitimate user, right after.
	b := h.signedIn("alice")
	resp := h.authorize(b, metadataAuthz(id))
	html := body(t, resp)
	if resp.StatusCode != 200 || !strings.Contains(html, "Allow access?") {
		msg := html
		if i := strings.Index(html, `role="alert">`); i >= 0 {
			msg, _, _ = strings.Cut(html[i+len(`role="alert">`):], "<")
		}
		t.Fatalf("after another requester hung up mid-fetch, the legitimate client was refused: %d %q",
			resp.StatusCode, msg)
	}
}
