package slipverify_test

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/slipverify"
)

// forged returns a token that looks like a slip signed by the key kid,
// which no issuer published: what anyone who can reach a tool can send.
func forged(kid string) string {
	b64 := base64.RawURLEncoding
	h := b64.EncodeToString([]byte(`{"alg":"EdDSA","kid":"` + kid + `","typ":"` + slipverify.Type + `"}`))
	return h + "." + b64.EncodeToString([]byte(`{}`)) + "." + b64.EncodeToString(make([]byte, 64))
}

// TestUnknownKeyRefetchBoundedWhenJWKSFails: 20 forged slips while the
// JWKS endpoint answers 503 make at most 1 JWKS fetch. The attempt counts,
// not only a fetch that succeeded, or a failing issuer would be asked again
// for every forged key ID.
func TestUnknownKeyRefetchBoundedWhenJWKSFails(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/jwks":
			hits.Add(1)
			http.Error(w, "busy", http.StatusServiceUnavailable)
		case "/introspect":
			w.Write([]byte(`{"active":false}`))
		}
	}))
	defer srv.Close()
	now := time.Now()
	v := &slipverify.Verifier{Issuer: srv.URL, Audience: slipverify.ToolAudience(srv.URL, "refund"),
		JWKSURL: srv.URL + "/jwks", IntrospectionURL: srv.URL + "/introspect",
		Now: func() time.Time { return now }}
	for i := range 20 {
		tok := forged("forged-" + string(rune('a'+i)))
		if _, err := v.Verify(context.Background(), tok, nil); err == nil || errors.Is(err, slipverify.ErrUsed) {
			t.Fatalf("forged slip: %v", err)
		}
	}
	if n := hits.Load(); n > 1 {
		t.Errorf("20 forged slips within one second made %d JWKS fetches, want at most 1", n)
	}
}

// TestUnknownKeyRefetchBoundedConcurrently: 20 forged slips at once (the
// JWKS answering slowly, in 100 ms) make one JWKS fetch, not one each: the
// others wait for the fetch that runs.
func TestUnknownKeyRefetchBoundedConcurrently(t *testing.T) {
	d := startDemoIssuer()
	defer d.Close()
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.JWKSHits.Add(1)
		time.Sleep(100 * time.Millisecond)
		w.Write(d.Keys.JWKS())
	}))
	defer slow.Close()
	v := newVerifier(d, "refund")
	v.JWKSURL = slow.URL
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = v.Verify(context.Background(), forged("forged-"+string(rune('a'+i))), nil)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if !errors.Is(err, slipverify.ErrInvalid) {
			t.Errorf("forged slip %d: Verify = %v, want ErrInvalid", i, err)
		}
	}
	if n := d.JWKSHits.Load(); n > 1 {
		t.Errorf("20 concurrent forged slips made %d JWKS fetches, want at most 1", n)
	}
}

// TestUnknownKeyRefetchAfterFailure: the bound does not lock a new key out
// for long. After a failed fetch the keys are fetched again once 5 s have
// passed, and a slip by a key rotated in meanwhile is taken; after a fetch
// that succeeded, the next waits 30 s as before.
func TestUnknownKeyRefetchAfterFailure(t *testing.T) {
	d := startDemoIssuer()
	defer d.Close()
	var failing atomic.Bool
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.JWKSHits.Add(1)
		if failing.Load() {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		w.Write(d.Keys.JWKS())
	}))
	defer jwks.Close()
	now := time.Now()
	clock := func() time.Time { return now }
	d.Minter.Now = clock // the slips are minted at the verifier's time
	v := newVerifier(d, "refund")
	v.JWKSURL, v.Now = jwks.URL, clock
	ctx := context.Background()
	verify := func(step string, want error) {
		t.Helper()
		_, err := v.Verify(ctx, d.mint("refund", `{}`), nil)
		if !errors.Is(err, want) || (want == nil) != (err == nil) {
			t.Fatalf("%s: Verify = %v, want %v", step, err, want)
		}
	}
	hits := func(step string, want int32) {
		t.Helper()
		if n := d.JWKSHits.Load(); n != want {
			t.Fatalf("%s: %d JWKS fetches, want %d", step, n, want)
		}
	}
	verify("first slip", nil)
	hits("first slip", 1)

	// An emergency rotation while the JWKS endpoint fails: the new key is
	// unknown, and the issuer unavailable to say otherwise.
	if err := d.Keys.RotateNow(ctx); err != nil {
		t.Fatal(err)
	}
	failing.Store(true)
	now = now.Add(31 * time.Second)
	verify("new key, JWKS failing", slipverify.ErrUnavailable)
	hits("new key, JWKS failing", 2)
	// The endpoint is back, but the failed fetch is not retried within 5 s.
	failing.Store(false)
	now = now.Add(4 * time.Second)
	verify("new key, 4 s after the failed fetch", slipverify.ErrUnavailable)
	hits("new key, 4 s after the failed fetch", 2)
	now = now.Add(time.Second)
	verify("new key, 5 s after the failed fetch", nil)
	hits("new key, 5 s after the failed fetch", 3)

	// After that successful fetch, another rotation waits 30 s.
	if err := d.Keys.RotateNow(ctx); err != nil {
		t.Fatal(err)
	}
	now = now.Add(29 * time.Second)
	verify("newer key, 29 s after the fetch", slipverify.ErrInvalid)
	hits("newer key, 29 s after the fetch", 3)
	now = now.Add(time.Second)
	verify("newer key, 30 s after the fetch", nil)
	hits("newer key, 30 s after the fetch", 4)
}

// TestKeyFetchOutlivesCanceledRequest: the fetch of the keys is shared, so
// the request that started it giving up (its client went away) ends only
// its own wait: the fetch goes on for the request waiting with it, and
// counts as one fetch, not as a failure to retry.
func TestKeyFetchOutlivesCanceledRequest(t *testing.T) {
	d := startDemoIssuer()
	defer d.Close()
	started := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d.JWKSHits.Add(1) == 1 {
			close(started)
		}
		time.Sleep(200 * time.Millisecond)
		w.Write(d.Keys.JWKS())
	}))
	defer slow.Close()
	v := newVerifier(d, "refund")
	v.JWKSURL = slow.URL
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error)
	go func() {
		_, err := v.Verify(ctx, d.mint("refund", `{}`), nil)
		first <- err
	}()
	<-started
	second := make(chan error)
	go func() {
		_, err := v.Verify(context.Background(), d.mint("refund", `{}`), nil)
		second <- err
	}()
	time.Sleep(20 * time.Millisecond) // the second request waits for the fetch too
	cancel()
	if err := <-first; !errors.Is(err, slipverify.ErrUnavailable) {
		t.Errorf("canceled request: Verify = %v, want ErrUnavailable", err)
	}
	if err := <-second; err != nil {
		t.Errorf("request waiting with it: Verify = %v", err)
	}
	if n := d.JWKSHits.Load(); n != 1 {
		t.Errorf("%d JWKS fetches, want 1", n)
	}
}
