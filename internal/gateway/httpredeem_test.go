package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/slipverify"
)

// TestHTTPToolWithoutRedeemer: an HTTP API tool that names no client_id
// gets a slip any service client may redeem, once. The gateway used to
// spend it before sending it, so every call answered "already used".
func TestHTTPToolWithoutRedeemer(t *testing.T) {
	e, cs, _ := refundAPI(t, func(v *slipverify.Verifier, w http.ResponseWriter, r *http.Request) {
		c, _, err := v.VerifyRequest(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"for": c.Subject})
	})
	res := call(t, cs, "refund", map[string]any{"amount": 12})
	if sc, _ := res.StructuredContent.(map[string]any); res.IsError || sc["for"] != "carol" {
		t.Fatalf("refund = %v %q", res.IsError, text(res))
	}
	types := map[string]int{}
	for _, ev := range e.mem.all() {
		types[ev.Type+"/"+ev.Status]++
	}
	if types["slip.redeemed/ok"] != 1 || types["slip.replay_refused/refused"] != 0 {
		t.Errorf("audit = %v", types)
	}
}

// TestFailedHTTPCallVoidsItsSlip: when an HTTP API tool's call fails on
// the way (here the API drops the connection), its slip is spent before
// the caller is told: the API, redeeming it late, is refused, so the
// caller's retry (with a new slip) cannot make the action happen twice.
// The result's record says whether the API had taken the slip first (it
// may then have acted). Before, the slip stayed redeemable until it
// expired.
func TestFailedHTTPCallVoidsItsSlip(t *testing.T) {
	slips := make(chan *http.Request, 2)
	redeemFirst := false
	e, cs, v := refundAPI(t, func(v *slipverify.Verifier, w http.ResponseWriter, r *http.Request) {
		if redeemFirst {
			if _, _, err := v.VerifyRequest(r.Clone(r.Context())); err != nil {
				t.Errorf("the API's redemption: %v", err)
			}
		}
		slips <- r.Clone(context.Background())
		if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
			conn.Close() // the call fails on the way
		}
	})
	lastSlip := func() string {
		for _, ev := range slices.Backward(e.mem.all()) {
			if ev.Type == audit.ToolResult {
				s, _ := ev.Detail["slip"].(string)
				return s
			}
		}
		return ""
	}

	res := call(t, cs, "refund", map[string]any{"amount": 12})
	if !res.IsError || !strings.Contains(text(res), "could not be run") {
		t.Fatalf("refund with the connection dropped: %v %q", res.IsError, text(res))
	}
	late := <-slips
	late.Body = ioNopCloser([]byte(`{"amount":12}`))
	if _, _, err := v.VerifyRequest(late); !errors.Is(err, slipverify.ErrUsed) {
		t.Errorf("the API redeeming the failed call's slip late: %v, want it refused as used", err)
	}
	if s := lastSlip(); s != "voided" {
		t.Errorf("the result's record says the slip was %q, want voided", s)
	}

	redeemFirst = true
	if res := call(t, cs, "refund", map[string]any{"amount": 12}); !res.IsError {
		t.Fatalf("refund with the connection dropped: %q", text(res))
	}
	<-slips
	if s := lastSlip(); s != "redeemed" {
		t.Errorf("the API took the slip, then failed: the record says %q, want redeemed", s)
	}
}

// TestHTTPErrorAnswerVoidsItsSlip: an answer outside 2xx tells the caller
// the call failed, and the caller may retry with a new slip; so the
// failed call's slip must die with it, like that of a call that failed on
// the way. Here a proxy in front of the API gives up (504) while the API
// behind it still holds the slip: the API's late redemption must be
// refused, or the action happens for the failed call and again for its
// retry. Before, the slip stayed redeemable until it expired.
func TestHTTPErrorAnswerVoidsItsSlip(t *testing.T) {
	slips := make(chan *http.Request, 2)
	redeemFirst := false
	e, cs, v := refundAPI(t, func(v *slipverify.Verifier, w http.ResponseWriter, r *http.Request) {
		if redeemFirst {
			if _, _, err := v.VerifyRequest(r.Clone(r.Context())); err != nil {
				t.Errorf("the API's redemption: %v", err)
			}
		}
		slips <- r.Clone(context.Background())
		http.Error(w, "upstream timed out", http.StatusGatewayTimeout)
	})
	lastResult := func() audit.Event {
		for _, ev := range slices.Backward(e.mem.all()) {
			if ev.Type == audit.ToolResult {
				return ev
			}
		}
		return audit.Event{}
	}

	res := call(t, cs, "refund", map[string]any{"amount": 12})
	if !res.IsError || !strings.Contains(text(res), "504") {
		t.Fatalf("refund answered 504: %v %q", res.IsError, text(res))
	}
	late := <-slips
	late.Body = ioNopCloser([]byte(`{"amount":12}`))
	if _, _, err := v.VerifyRequest(late); !errors.Is(err, slipverify.ErrUsed) {
		t.Errorf("the API redeeming the slip of a call answered 504, late: %v, want it refused as used", err)
	}
	if r := lastResult(); r.Status != "tool_error" || r.Detail["slip"] != "voided" || r.Detail["http_status"] != http.StatusGatewayTimeout {
		t.Errorf("the result's record: status %q, detail %v; want tool_error, slip voided, http_status 504", r.Status, r.Detail)
	}

	redeemFirst = true
	if res := call(t, cs, "refund", map[string]any{"amount": 12}); !res.IsError {
		t.Fatalf("refund answered 504: %q", text(res))
	}
	<-slips
	if r := lastResult(); r.Detail["slip"] != "redeemed" {
		t.Errorf("the API took the slip, then answered 504: the record says %v, want redeemed", r.Detail["slip"])
	}
}

// TestHTTPToolArgumentsTheVerifierTakes: Gatehouse takes MCP requests of
// up to 4 MiB, but slipverify.VerifyRequest reads at most
// slipverify.MaxBody bytes of arguments. A call whose arguments are
// larger must not be allowed, minted a slip and sent to the API, only to
// be refused there as "arguments do not match the permission slip": it is
// refused before, and told why.
func TestHTTPToolArgumentsTheVerifierTakes(t *testing.T) {
	var requests atomic.Int32
	e, cs, _ := refundAPI(t, func(v *slipverify.Verifier, w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if _, _, err := v.VerifyRequest(r); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		w.Write([]byte("done"))
	})

	res := call(t, cs, "refund", map[string]any{"note": strings.Repeat("a", slipverify.MaxBody+1)})
	if n := requests.Load(); n != 0 {
		t.Errorf("arguments larger than slipverify.MaxBody were sent to the API (%d requests): %q", n, shorten(text(res), 200))
	}
	if !res.IsError || !strings.Contains(text(res), fmt.Sprintf("at most %d bytes", slipverify.MaxBody)) {
		t.Errorf("the caller is told %q", shorten(text(res), 200))
	}
	for _, ev := range e.mem.all() {
		if ev.Type == audit.SlipMinted {
			t.Errorf("a slip was minted for arguments no verifier takes")
		}
	}
	// Arguments of exactly MaxBody bytes are fine.
	pad := slipverify.MaxBody - len(`{"note":""}`)
	if res := call(t, cs, "refund", map[string]any{"note": strings.Repeat("a", pad)}); res.IsError || text(res) != "done" {
		t.Errorf("arguments of slipverify.MaxBody bytes: %q", shorten(text(res), 200))
	}
}

func shorten(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// TestHTTPCallBrokenAfterRedeemSaysItMayHaveRun: an API redeems its slip
// before it acts (docs/slips.md), so a call whose answer then never
// arrives (the connection drops, here after the API answered 200 and
// began its body) has run, or is running. The caller used to be told
// "could not be run. Please try again later." and its retry, with a new
// slip, made the refund happen twice. The gateway knows the slip was
// taken (voiding it finds it spent): the caller is told the call may have
// run and to check before calling again. A call whose slip the API never
// took is still a plain failure to retry.
func TestHTTPCallBrokenAfterRedeemSaysItMayHaveRun(t *testing.T) {
	redeem := true
	_, cs, _ := refundAPI(t, func(v *slipverify.Verifier, w http.ResponseWriter, r *http.Request) {
		if redeem {
			if _, _, err := v.VerifyRequest(r); err != nil {
				t.Errorf("the API's redemption: %v", err)
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(http.StatusOK)
		w.Write([]byte(`{"refunded":`))
		w.(http.Flusher).Flush()
		if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
			conn.Close()
		}
	})

	res := call(t, cs, "refund", map[string]any{"amount": 12})
	if !res.IsError || !strings.Contains(text(res), "may have run") || strings.Contains(text(res), "try again") {
		t.Errorf("a call the API took, whose answer broke off: %v %q; want it said to have possibly run", res.IsError, text(res))
	}
	redeem = false
	res = call(t, cs, "refund", map[string]any{"amount": 12})
	if !res.IsError || !strings.Contains(text(res), "could not be run") {
		t.Errorf("a call the API never took: %v %q; want a plain failure", res.IsError, text(res))
	}
}

// TestHTTPServerErrorAfterRedeemSaysItMayHaveRun: an API that took the
// slip and then answered a server error (a proxy's 502 in front of it,
// say) has its answer passed on with a warning that the call may have
// run, so that the agent checks before calling again; a refusal (4xx)
// after taking the slip, and a 502 of an API that never took it, are
// passed on as they are. Before, a 5xx after the slip was taken read as a
// failure to retry, and a retry could act twice.
func TestHTTPServerErrorAfterRedeemSaysItMayHaveRun(t *testing.T) {
	redeem, status := true, http.StatusBadGateway
	_, cs, _ := refundAPI(t, func(v *slipverify.Verifier, w http.ResponseWriter, r *http.Request) {
		if redeem {
			if _, _, err := v.VerifyRequest(r); err != nil {
				t.Errorf("the API's redemption: %v", err)
			}
		}
		http.Error(w, "upstream hiccup", status)
	})

	res := call(t, cs, "refund", map[string]any{"amount": 12})
	if !res.IsError || !strings.Contains(text(res), "may have run") {
		t.Errorf("a 502 after the API took the slip: %v %q; want it said to have possibly run", res.IsError, text(res))
	}
	status = http.StatusConflict
	res = call(t, cs, "refund", map[string]any{"amount": 12})
	if !res.IsError || strings.Contains(text(res), "may have run") {
		t.Errorf("a 409 after the API took the slip: %v %q; want the refusal as it is", res.IsError, text(res))
	}
	redeem, status = false, http.StatusBadGateway
	res = call(t, cs, "refund", map[string]any{"amount": 12})
	if !res.IsError || strings.Contains(text(res), "may have run") {
		t.Errorf("a 502 of an API that never took the slip: %v %q; want no warning", res.IsError, text(res))
	}
}

// failingConsumer is a store whose single-use markers cannot be written.
type failingConsumer struct{ store.Consumer }

func (failingConsumer) Consume(context.Context, string, string, time.Time) (bool, error) {
	return false, errors.New("the store is unreachable")
}

// TestHTTPFailureWithSlipStateUnknownSaysItMayHaveRun: when a call to an
// API fails and the gateway cannot void its slip (the store is
// unreachable), it does not know whether the API took the slip, nor
// whether it still may: the caller is told the call may have run, not to
// try again, and the trail says the slip's state is unknown. Before, the
// caller was told to try again, and a retry could act twice.
func TestHTTPFailureWithSlipStateUnknownSaysItMayHaveRun(t *testing.T) {
	api := newAPI(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		http.Error(w, "upstream hiccup", http.StatusBadGateway)
	})
	e := newEnv(t, envOptions{tools: []store.Tool{{
		Name: "refund", Roles: []string{"support"},
		HTTP: &store.HTTPBackend{Method: "POST", URL: api},
	}}})
	e.gw.Slips.Store = failingConsumer{e.gw.Slips.Store}
	cs := e.connect("carol", "acme-assistant", "2025-11-25")
	res := call(t, cs, "refund", map[string]any{"amount": 12})
	if !res.IsError || !strings.Contains(text(res), "may have run") {
		t.Errorf("a failed call whose slip could not be voided: %v %q; want it said to have possibly run", res.IsError, text(res))
	}
	var state any
	for _, ev := range e.mem.all() {
		if ev.Type == audit.ToolResult {
			state = ev.Detail["slip"]
		}
	}
	if state != "unknown" {
		t.Errorf("the result records the slip as %v, want unknown", state)
	}
}

// refundAPI starts an env whose tool refund (role support) is the HTTP API
// serve, and returns it with carol's session through acme-assistant and
// the verifier serve is given: billing-api's, for refund's audience. serve
// gets each request with its body to read again.
func refundAPI(t *testing.T, serve func(v *slipverify.Verifier, w http.ResponseWriter, r *http.Request)) (*env, *mcp.ClientSession, *slipverify.Verifier) {
	var v *slipverify.Verifier
	api := newAPI(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		r.Body = ioNopCloser(body)
		serve(v, w, r)
	})
	e := newEnv(t, envOptions{tools: []store.Tool{{
		Name: "refund", Roles: []string{"support"},
		HTTP: &store.HTTPBackend{Method: "POST", URL: api},
	}}})
	v = &slipverify.Verifier{Issuer: e.issuer, Audience: slipverify.ToolAudience(e.issuer, "refund"), ClientID: "billing-api", ClientSecret: "x"}
	return e, e.connect("carol", "acme-assistant", "2025-11-25"), v
}
