package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/policy"
	"github.com/gatehouse/gatehouse/internal/slip"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/slipverify"
)

// BenchmarkPolicySlip is the gateway's own work per call, without I/O:
// canonicalize the arguments, decide, mint the slip, and verify it as the
// executor does before redeeming.
func BenchmarkPolicySlip(b *testing.B) {
	e := newEnv(b, envOptions{})
	set, err := policy.Compile([]policy.Rule{
		{Tool: "sales_report", Roles: []string{"sales-manager"}},
		{Tool: "refund", Roles: []string{"support"}, When: "context.args.amount <= 50"},
	})
	if err != nil {
		b.Fatal(err)
	}
	m := &slip.Minter{Issuer: e.issuer, Keys: e.keys, Store: e.st}
	p := policy.Principal{Subject: "carol", Roles: []string{"sales-manager", "support"}, Attributes: map[string]string{"region": "amer"}}
	a := policy.Agent{ClientID: "acme-assistant", Kind: "agent"}
	actor := &slipverify.Actor{Sub: "acme-assistant", ClientID: "acme-assistant"}
	raw := []byte(`{"amount": 12, "reason": "damaged in transit", "order": "A-1042"}`)
	b.ReportAllocs()
	for b.Loop() {
		c, err := slipverify.Canonical(raw)
		if err != nil {
			b.Fatal(err)
		}
		args := map[string]any{"amount": 12, "reason": "damaged in transit", "order": "A-1042"}
		if d := set.Decide(policy.Request{Principal: p, Agent: a, Tool: "refund", Args: args}); !d.Allow {
			b.Fatal(d.Reasons)
		}
		tok, _, err := m.Mint(slip.Request{Tool: "refund", Args: c, Subject: "carol", Actor: actor, Correlation: "x"})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := m.Verify(tok, "refund", c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkToolCall compares a trivial upstream tool (echo, over
// Streamable HTTP) called directly with the same tool called through the
// gateway: token check, policy, slip mint and redeem (a single-use marker
// committed in the store), and the durable audit trail on SQLite: the
// decision and slip.minted in one commit before the upstream is called,
// slip.redeemed queued, and tool.result committed before the answer.
//
// Clients speak the newest protocol revision, as current clients (and
// cmd/loadgen) do. c1 is one client calling in a loop (its p50 and p99
// are reported); c16 and c64 are that many clients, each on its own
// session, calling at once (calls/s, and for the gateway the audit's
// records per commit).
func BenchmarkToolCall(b *testing.B) {
	benchToolCall(b, true)
}

// BenchmarkToolCallMemAudit is BenchmarkToolCall with the audit trail in
// memory, to tell the gateway's own cost from the audit's commits.
func BenchmarkToolCallMemAudit(b *testing.B) {
	benchToolCall(b, false)
}

func benchToolCall(b *testing.B, durable bool) {
	upstream := newTestUpstream("Echoes its text")
	us := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return upstream }, nil))
	b.Cleanup(us.Close)
	e := newEnv(b, envOptions{realAudit: durable,
		tools:     []store.Tool{{Name: "echo", Upstream: "up", Roles: []string{"sales-manager"}}},
		upstreams: []store.Upstream{{Name: "up", URL: us.URL}}})
	probe := e.connect("alice", "acme-assistant", "2025-11-25")
	deadline := time.Now().Add(10 * time.Second)
	for !slices.Contains(toolNames(b, probe), "echo") {
		if time.Now().After(deadline) {
			b.Fatal("echo never listed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// One keep-alive pool for every client, large enough for all of them
	// (the default keeps 2 idle connections per host, and the clients
	// would then spend their time opening connections).
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 256
	b.Cleanup(tr.CloseIdleConnections)
	open := func(endpoint string, rt http.RoundTripper) *mcp.ClientSession {
		cs, err := mcp.NewClient(&mcp.Implementation{Name: "bench", Version: "1"}, nil).Connect(context.Background(),
			&mcp.StreamableClientTransport{Endpoint: endpoint, HTTPClient: &http.Client{Transport: rt}, DisableStandaloneSSE: true},
			nil) // the newest revision, as loadgen and current clients speak
		if err != nil {
			b.Fatal(err)
		}
		return cs
	}
	// Two people through the agent: the gateway bounds what one caller
	// holds at once (32 sessions, 32 running calls), which 64 clients of
	// one person would pass, failing their calls.
	tokens := []string{e.token("alice", "acme-assistant"), e.token("carol", "acme-assistant")}
	direct := func(int) *mcp.ClientSession { return open(us.URL, tr) }
	viaGateway := func(i int) *mcp.ClientSession {
		return open(e.resource, bearer{token: tokens[i%len(tokens)], base: tr})
	}
	args := map[string]any{"text": "hello"}
	for _, mode := range []struct {
		name string
		open func(i int) *mcp.ClientSession
	}{{"direct", direct}, {"gateway", viaGateway}} {
		b.Run(mode.name+"/c1", func(b *testing.B) {
			cs := mode.open(0)
			defer cs.Close()
			var lat []time.Duration
			for b.Loop() {
				t0 := time.Now()
				res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: args})
				if err != nil || res.IsError {
					b.Fatal(err, res)
				}
				lat = append(lat, time.Since(t0))
			}
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
		for _, clients := range []int{16, 64} {
			b.Run(fmt.Sprintf("%s/c%d", mode.name, clients), func(b *testing.B) {
				sessions := make([]*mcp.ClientSession, clients)
				for i := range sessions {
					sessions[i] = mode.open(i)
					defer sessions[i].Close()
				}
				b.ResetTimer()
				var wg sync.WaitGroup
				next := make(chan struct{})
				go func() {
					for range b.N {
						next <- struct{}{}
					}
					close(next)
				}()
				for _, cs := range sessions {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for range next {
							res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: args})
							if err != nil || res.IsError {
								panic(fmt.Sprint(err, res))
							}
						}
					}()
				}
				wg.Wait()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
				if l, ok := e.audit.(*audit.Log); ok && mode.name == "gateway" {
					st := l.Stats()
					b.ReportMetric(float64(st.Records)/float64(max(st.Batches, 1)), "records/commit")
				}
			})
		}
	}
}
