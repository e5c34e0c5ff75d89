// Command loadgen measures Gatehouse under load on this machine: token
// issuance, MCP tool calls through the gateway, and the same tool called
// directly on a trivial upstream it can serve itself. Every run is bounded in
// time and count and targets loopback addresses only.
//
//	loadgen echo-server -addr 127.0.0.1:9301
//	loadgen mcp -url http://127.0.0.1:9301/mcp -tool echo -c 16 -d 10s [-protocol 2025-11-25]
//	GH_TOKEN=… loadgen mcp -url http://127.0.0.1:8080/mcp -tool echo -c 16 -d 10s
//	GH_TOKEN="… … … …" loadgen mcp -url http://127.0.0.1:8080/mcp -c 64 -d 10s
//	GH_SECRET=… loadgen tokens -url http://127.0.0.1:8080/token -client svc -c 16 -d 10s
//	loadgen mint-token -data ./gatehouse-data -issuer http://127.0.0.1:8080 -sub alice -client loadgen
//
// mint-token prints an access token for /mcp signed with a data folder's
// keys (the store of a `gatehouse serve` on this machine, SQLite or
// PostgreSQL through -database), so that `loadgen mcp` can call tools as a
// person through an agent without a browser login.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/identity/accesstoken"
	"github.com/gatehouse/gatehouse/internal/server"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: loadgen echo-server|mcp|tokens|mint-token [flags]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "echo-server":
		err = echoServer(ctx, os.Args[2:])
	case "mcp":
		err = mcpLoad(ctx, os.Args[2:])
	case "tokens":
		err = tokenLoad(ctx, os.Args[2:])
	case "mint-token":
		err = mintToken(ctx, os.Args[2:])
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

// loopbackOnly refuses any target that is not on this machine.
func loopbackOnly(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	h := u.Hostname()
	if h == "localhost" {
		return nil
	}
	if ip := net.ParseIP(h); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%s is not a loopback address: loadgen only targets this machine", h)
}

type bounds struct {
	conc     int
	duration time.Duration
	max      int64
}

func (b *bounds) declare(fs *flag.FlagSet) {
	fs.IntVar(&b.conc, "c", 16, "concurrent clients (1–256)")
	fs.DurationVar(&b.duration, "d", 10*time.Second, "duration (at most 2m)")
	fs.Int64Var(&b.max, "n", 1_000_000, "at most this many requests in all")
}

func (b *bounds) check() error {
	if b.conc < 1 || b.conc > 256 || b.duration <= 0 || b.duration > 2*time.Minute || b.max < 1 {
		return errors.New("-c must be 1–256, -d at most 2m, -n positive")
	}
	return nil
}

// run calls op from b.conc workers until the time or count runs out, and
// reports throughput and latency percentiles.
func run(ctx context.Context, name string, b bounds, op func(ctx context.Context, worker int) error) error {
	ctx, cancel := context.WithTimeout(ctx, b.duration)
	defer cancel()
	var (
		count, fails atomic.Int64
		mu           sync.Mutex
		lat          []time.Duration
		firstErr     error
		wg           sync.WaitGroup
	)
	start := time.Now()
	for w := range b.conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, 4096)
			for ctx.Err() == nil && count.Add(1) <= b.max {
				t := time.Now()
				err := op(ctx, w)
				if ctx.Err() != nil {
					break
				}
				if err != nil {
					fails.Add(1)
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					continue
				}
				local = append(local, time.Since(t))
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(lat)
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[min(len(lat)-1, int(float64(len(lat))*p))].Microseconds()) / 1000
	}
	out := map[string]any{
		"mode": name, "concurrency": b.conc, "ok": len(lat), "failed": fails.Load(),
		"seconds": elapsed.Seconds(), "per_second": float64(len(lat)) / elapsed.Seconds(),
		"p50_ms": pct(.50), "p90_ms": pct(.90), "p99_ms": pct(.99),
	}
	json.NewEncoder(os.Stdout).Encode(out)
	if firstErr != nil {
		fmt.Fprintf(os.Stderr, "first error: %v\n", firstErr)
	}
	if len(lat) == 0 {
		return errors.New("no request succeeded")
	}
	return nil
}

// echoServer serves a trivial MCP tool, the baseline for gateway overhead.
func echoServer(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("echo-server", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:9301", "listen address (loopback)")
	stateless := fs.Bool("stateless", false, "serve without sessions")
	fs.Parse(args)
	if err := loopbackOnly("http://" + *addr); err != nil {
		return err
	}
	srv := mcp.NewServer(&mcp.Implementation{Name: "echo", Version: "1"}, nil)
	type in struct {
		Msg string `json:"msg"`
	}
	mcp.AddTool(srv, &mcp.Tool{Name: "echo", Description: "Echoes msg"},
		func(ctx context.Context, req *mcp.CallToolRequest, a in) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: a.Msg}}}, nil, nil
		})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, &mcp.StreamableHTTPOptions{Stateless: *stateless})
	hs := &http.Server{Addr: *addr, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { <-ctx.Done(); hs.Close() }()
	fmt.Fprintf(os.Stderr, "echo MCP server on http://%s/mcp\n", *addr)
	if err := hs.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}

func httpClient(conc int) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = conc * 2
	tr.MaxConnsPerHost = conc * 4
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// mcpLoad opens one MCP session per worker and calls a tool repeatedly. The
// access token, if any, comes from GH_TOKEN (never a flag: it would show in
// the process list). GH_TOKEN may hold several tokens, separated by spaces,
// one per caller: worker i calls with token i mod n. The gateway bounds
// what one caller (a person through an agent) holds at once, 32 sessions
// and 32 running calls, so 64 clients are two or more callers.
func mcpLoad(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("mcp", flag.ExitOnError)
	var b bounds
	b.declare(fs)
	target := fs.String("url", "http://127.0.0.1:9301/mcp", "MCP endpoint")
	tool := fs.String("tool", "echo", "tool to call")
	argJSON := fs.String("args", `{"msg":"hello"}`, "tool arguments (JSON object)")
	progress := fs.Bool("progress", false, "ask for progress on every call (as clients that show it do)")
	protocol := fs.String("protocol", "", "MCP protocol revision to ask for (default: the newest the SDK speaks); the server may answer with an older one")
	fs.Parse(args)
	if err := b.check(); err != nil {
		return err
	}
	if err := loopbackOnly(*target); err != nil {
		return err
	}
	var toolArgs map[string]any
	if err := json.Unmarshal([]byte(*argJSON), &toolArgs); err != nil {
		return fmt.Errorf("-args: %w", err)
	}
	base := httpClient(b.conc)
	clients := []*http.Client{base}
	if toks := strings.Fields(os.Getenv("GH_TOKEN")); len(toks) > 0 {
		clients = clients[:0]
		for _, tok := range toks {
			clients = append(clients, &http.Client{Transport: bearer{tok, base.Transport}, Timeout: base.Timeout})
		}
	}
	sessions := make([]*mcp.ClientSession, b.conc)
	for i := range sessions {
		c := mcp.NewClient(&mcp.Implementation{Name: "loadgen", Version: "1"}, nil)
		hc := clients[i%len(clients)]
		s, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: *target, HTTPClient: hc, DisableStandaloneSSE: true}, &mcp.ClientSessionOptions{ProtocolVersion: *protocol})
		if err != nil {
			return fmt.Errorf("connect: %w", err)
		}
		defer s.Close()
		sessions[i] = s
	}
	return run(ctx, "mcp "+*tool, b, func(ctx context.Context, w int) error {
		params := &mcp.CallToolParams{Name: *tool, Arguments: toolArgs}
		if *progress {
			params.SetProgressToken(fmt.Sprintf("w%d", w))
		}
		res, err := sessions[w].CallTool(ctx, params)
		if err != nil {
			return err
		}
		if res.IsError {
			var msg []string
			for _, c := range res.Content {
				if t, ok := c.(*mcp.TextContent); ok {
					msg = append(msg, t.Text)
				}
			}
			return fmt.Errorf("tool error: %s", strings.Join(msg, " "))
		}
		return nil
	})
}

// tokenLoad runs client_credentials grants; the secret comes from GH_SECRET.
func tokenLoad(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("tokens", flag.ExitOnError)
	var b bounds
	b.declare(fs)
	target := fs.String("url", "http://127.0.0.1:8080/token", "token endpoint")
	client := fs.String("client", "", "client_id of a service client")
	resource := fs.String("resource", "", "resource (RFC 8707) to ask for")
	fs.Parse(args)
	if err := b.check(); err != nil {
		return err
	}
	if err := loopbackOnly(*target); err != nil {
		return err
	}
	secret := os.Getenv("GH_SECRET")
	if *client == "" || secret == "" {
		return errors.New("-client and the GH_SECRET environment variable are required")
	}
	form := url.Values{"grant_type": {"client_credentials"}}
	if *resource != "" {
		form.Set("resource", *resource)
	}
	body := form.Encode()
	hc := httpClient(b.conc)
	return run(ctx, "client_credentials", b, func(ctx context.Context, _ int) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, *target, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape(*client), url.QueryEscape(secret))
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"access_token"`) {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
}

// mintToken prints an access token for the issuer's /mcp, signed with the
// data folder's keys, for a person (-sub) through an agent (-client); both
// must be in the tenant for the gateway to accept it.
func mintToken(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("mint-token", flag.ExitOnError)
	var o server.StoreOptions
	fs.StringVar(&o.DataDir, "data", server.DefaultDataDir, "data folder of the Gatehouse")
	fs.StringVar(&o.DatabaseURL, "database", "", "PostgreSQL URL, when the Gatehouse runs on one")
	issuer := fs.String("issuer", "http://127.0.0.1:8080", "the Gatehouse's issuer")
	sub := fs.String("sub", "", "the person (username)")
	client := fs.String("client", "", "the agent (client_id)")
	scope := fs.String("scope", "", "scope (e.g. tool:echo); empty: not narrowed")
	ttl := fs.Duration("ttl", time.Hour, "lifetime")
	fs.Parse(args)
	if err := loopbackOnly(*issuer); err != nil {
		return err
	}
	if *sub == "" || *client == "" {
		return errors.New("-sub and -client are required")
	}
	st, err := server.OpenStore(ctx, o)
	if err != nil {
		return err
	}
	defer st.Close()
	ks, err := server.OpenKeys(ctx, st, o)
	if err != nil {
		return err
	}
	iss := strings.TrimRight(*issuer, "/")
	now := time.Now()
	var id [12]byte
	if _, err := rand.Read(id[:]); err != nil {
		return err
	}
	tok, err := accesstoken.Mint(ks, accesstoken.Claims{
		Issuer: iss, Subject: *sub, Audience: accesstoken.Audience{iss + "/mcp"}, ClientID: *client,
		Scope: *scope, JTI: "loadgen-" + hex.EncodeToString(id[:]), IssuedAt: now.Unix(), Expiry: now.Add(*ttl).Unix(),
	})
	if err != nil {
		return err
	}
	fmt.Println(tok)
	return nil
}
