package slipverify_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/slipverify"
)

// TestJWKSFetchBoundedInSize: a JWKS endpoint that answers without end
// (a broken or hostile issuer, a proxy looping) is read up to a bound, not
// into memory without one: the slip is refused as the issuer unavailable,
// and the endpoint got to write a bounded amount before the verifier hung
// up (without the bound it streams until the 10 s fetch timeout, gigabytes
// over loopback).
func TestJWKSFetchBoundedInSize(t *testing.T) {
	d := startDemoIssuer()
	defer d.Close()
	var written atomic.Int64
	endless := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"keys":[`))
		chunk := []byte(strings.Repeat(`{"kty":"oct","k":"AAAA"},`, 1000))
		for {
			n, err := w.Write(chunk)
			written.Add(int64(n))
			if err != nil {
				return
			}
		}
	}))
	defer endless.Close()
	v := newVerifier(d, "refund")
	v.JWKSURL = endless.URL
	args := `{"amount":12}`
	if _, err := v.Verify(context.Background(), d.mint("refund", args), []byte(args)); !errors.Is(err, slipverify.ErrUnavailable) {
		t.Fatalf("Verify with an endless JWKS = %v, want ErrUnavailable", err)
	}
	endless.CloseClientConnections()
	if n := written.Load(); n > 64<<20 {
		t.Errorf("the JWKS endpoint wrote %d bytes before the verifier stopped reading", n)
	}
}

// TestJWKSFetchTimesOut: a JWKS endpoint that never answers, asked through
// the tool's own HTTP client without a timeout and for a request without a
// deadline, does not hold the request for ever: the fetch is cut (after
// 10 s) and the slip refused as the issuer unavailable.
func TestJWKSFetchTimesOut(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the 10 s fetch timeout")
	}
	d := startDemoIssuer()
	defer d.Close()
	silent := silentServer(t)
	v := newVerifier(d, "refund")
	v.JWKSURL, v.HTTPClient = silent, &http.Client{}
	args := `{"amount":12}`
	if _, err := v.Verify(context.Background(), d.mint("refund", args), []byte(args)); !errors.Is(err, slipverify.ErrUnavailable) {
		t.Fatalf("Verify with a silent JWKS = %v, want ErrUnavailable", err)
	}
}

// TestIntrospectionTimesOut: an introspection endpoint that never answers,
// asked through the tool's own HTTP client without a timeout and for a
// request without a deadline, does not hold the request for ever: the
// introspection is cut after 10 s, as the fetch of the keys is, and the
// slip refused as the issuer unavailable.
func TestIntrospectionTimesOut(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the 10 s introspection timeout")
	}
	d := startDemoIssuer()
	defer d.Close()
	silent := silentServer(t)
	v := newVerifier(d, "refund")
	v.IntrospectionURL, v.HTTPClient = silent, &http.Client{}
	args := `{"amount":12}`
	tok := d.mint("refund", args)
	done := make(chan error, 1)
	go func() {
		_, err := v.Verify(context.Background(), tok, []byte(args))
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, slipverify.ErrUnavailable) {
			t.Fatalf("Verify with a silent introspection endpoint = %v, want ErrUnavailable", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Verify with a silent introspection endpoint still waits after 30 s")
	}
}

// silentServer is the URL of a server that never answers: each request
// waits until the client gives up or the test ends.
func silentServer(t *testing.T) string {
	t.Helper()
	release := make(chan struct{})
	silent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(silent.Close)
	t.Cleanup(func() { close(release) })
	return silent.URL
}
