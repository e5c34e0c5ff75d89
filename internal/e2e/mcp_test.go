package e2e_test

// MCP clients nobody here wrote — the official TypeScript SDK, the official
// Go SDK and mcp-remote — sign in through Gatehouse as a person would (login
// form, consent form, all headless) and call tools through /mcp. Each finds
// the authorization server on its own from /mcp's 401 and the protected
// resource metadata, registers itself dynamically and uses PKCE.

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/gatehouse/gatehouse/internal/e2e"
)

// mcpTenant has two people with one report each: alice may see sales,
// bob payroll.
const mcpTenant = `
tenant: acme
roles:
  - name: sales-manager
  - name: hr-manager
users:
  - username: alice
    email: alice@acme.example
    password: alice-e2e-password
    roles: [sales-manager]
  - username: bob
    email: bob@acme.example
    password: bob-e2e-password
    roles: [hr-manager]
tools:
  - name: sales_report
    builtin: sales_report
    roles: [sales-manager]
  - name: payroll_report
    builtin: payroll_report
    roles: [hr-manager]
`

// mcpPerson is who signs in, and what Gatehouse must let them do.
type mcpPerson struct {
	username, password string
	may, mayNot        string // the report they may call, and the one they may not
	want               string // text the allowed report's result holds
}

var mcpPeople = []mcpPerson{
	{username: "alice", password: "alice-e2e-password", may: "sales_report", mayNot: "payroll_report", want: "Sales report 2025-11"},
	{username: "bob", password: "bob-e2e-password", may: "payroll_report", mayNot: "sales_report", want: "Payroll 2025-11"},
}

const mcpMonth = `{"month":"2025-11"}`

func mcpRefusal(tool string) string { return "Sorry, you don't have access to " + tool + "." }

// mcpCheck is what every client must see: the allowed report listed and
// working, the other neither listed nor callable.
func mcpCheck(t *testing.T, p mcpPerson, tools []string, calls map[string]mcpCallResult) {
	t.Helper()
	if !slices.Contains(tools, p.may) {
		t.Errorf("%s: tools/list %v lacks %s", p.username, tools, p.may)
	}
	if slices.Contains(tools, p.mayNot) {
		t.Errorf("%s: tools/list %v shows %s, which %s may not call", p.username, tools, p.mayNot, p.username)
	}
	if r, ok := calls[p.may]; !ok || r.IsError || !strings.Contains(r.Text, p.want) {
		t.Errorf("%s: %s answered %+v, want a result holding %q", p.username, p.may, r, p.want)
	}
	if r, ok := calls[p.mayNot]; !ok || !r.IsError || r.Text != mcpRefusal(p.mayNot) {
		t.Errorf("%s: %s answered %+v, want isError with %q", p.username, p.mayNot, r, mcpRefusal(p.mayNot))
	}
}

type mcpCallResult struct {
	IsError bool   `json:"isError"`
	Text    string `json:"text"`
}

// mcpSummary is each call's outcome and the first line of its text.
func mcpSummary(calls map[string]mcpCallResult) string {
	var parts []string
	for name, r := range calls {
		first, _, _ := strings.Cut(r.Text, "\n")
		parts = append(parts, fmt.Sprintf("%s: isError=%v %q", name, r.IsError, first))
	}
	slices.Sort(parts)
	return strings.Join(parts, "; ")
}

// mcpScript is a script of interop/mcp.
func mcpScript(t *testing.T, name string) string {
	return filepath.Join(e2e.InteropDir(t), "mcp", name)
}

// mcpRequirePeer skips (fails under CI) when a package of interop/node_modules
// is missing.
func mcpRequirePeer(t *testing.T, pkg string) string {
	t.Helper()
	e2e.Node22(t)
	dir := filepath.Join(e2e.InteropDir(t), "node_modules", filepath.FromSlash(pkg))
	_, err := os.Stat(filepath.Join(dir, "package.json"))
	e2e.Require(t, err == nil, pkg+" (interop/node_modules)", "run 'npm ci' in interop/, or 'make test'")
	return dir
}

// TestMCPTypeScriptSDK: the official TypeScript MCP SDK's client, with an
// OAuthClientProvider that plays the browser, signs in and calls tools.
func TestMCPTypeScriptSDK(t *testing.T) {
	mcpRequirePeer(t, "@modelcontextprotocol/sdk")
	g := e2e.Start(t, mcpTenant, nil)
	for _, p := range mcpPeople {
		t.Run(p.username, func(t *testing.T) {
			out, err := e2e.RunNode(t, 60*time.Second, nil, mcpScript(t, "ts-sdk-client.mjs"), g.URL+"/mcp", p.username, p.password,
				p.may+"="+mcpMonth, p.mayNot+"="+mcpMonth)
			if err != nil {
				t.Fatalf("ts-sdk-client.mjs: %v\n%s", err, out)
			}
			var res struct {
				Server   string                   `json:"server"`
				Protocol string                   `json:"protocol"`
				ClientID string                   `json:"client_id"`
				Scope    string                   `json:"scope"`
				Iss      string                   `json:"iss"`
				Events   []string                 `json:"events"`
				Tools    []string                 `json:"tools"`
				Calls    map[string]mcpCallResult `json:"calls"`
			}
			if err := json.Unmarshal([]byte(mcpLastLine(out)), &res); err != nil {
				t.Fatalf("ts-sdk-client.mjs printed %q: %v", out, err)
			}
			t.Logf("TypeScript SDK as %s: server %s, protocol %s, client_id %s, OAuth steps %v, tools %v, calls %s",
				p.username, res.Server, res.Protocol, res.ClientID, res.Events, res.Tools, mcpSummary(res.Calls))
			if !strings.HasPrefix(res.ClientID, "dcr_") {
				t.Errorf("client_id %q: want a dynamically registered client", res.ClientID)
			}
			if res.Iss != g.URL {
				t.Errorf("iss in the authorization response %q, want %q", res.Iss, g.URL)
			}
			if !slices.Equal(res.Events, []string{"registered", "authorize", "tokens"}) {
				t.Errorf("the SDK's OAuth steps were %v", res.Events)
			}
			mcpCheck(t, p, res.Tools, res.Calls)
		})
	}
}

// TestMCPGoSDK: the official Go MCP SDK's client with its own OAuth handler
// (auth.AuthorizationCodeHandler: resource metadata, discovery, dynamic
// registration, PKCE), whose code fetcher does the form posts in Go.
func TestMCPGoSDK(t *testing.T) {
	g := e2e.Start(t, mcpTenant, nil)
	for _, p := range mcpPeople {
		t.Run(p.username, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			h := mcpGoOAuth(t, p.username, p.password)
			client := mcp.NewClient(&mcp.Implementation{Name: "gatehouse-e2e-go-sdk", Version: "1.0.0"}, nil)
			cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: g.URL + "/mcp", OAuthHandler: h}, nil)
			if err != nil {
				t.Fatalf("connect: %v%s", err, mcpWhyRefused(ctx, g, h))
			}
			defer cs.Close()
			ts, err := h.TokenSource(ctx)
			if err != nil || ts == nil {
				t.Fatalf("no token after connecting: %v", err)
			}
			tok, err := ts.Token()
			if err != nil {
				t.Fatal(err)
			}
			c := mcpClaims(t, tok.AccessToken)
			if c["aud"] != g.URL+"/mcp" || c["sub"] != p.username || !strings.HasPrefix(fmt.Sprint(c["client_id"]), "dcr_") {
				t.Errorf("access token claims %v", c)
			}
			var tools []string
			for tool, err := range cs.Tools(ctx, nil) {
				if err != nil {
					t.Fatal(err)
				}
				tools = append(tools, tool.Name)
			}
			calls := map[string]mcpCallResult{}
			for _, name := range []string{p.may, p.mayNot} {
				res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: json.RawMessage(mcpMonth)})
				if err != nil {
					t.Fatalf("call %s: %v", name, err)
				}
				calls[name] = mcpCallResult{IsError: res.IsError, Text: mcpText(res)}
			}
			t.Logf("Go SDK as %s: protocol %s, client_id %v, tools %v, calls %s",
				p.username, cs.InitializeResult().ProtocolVersion, c["client_id"], tools, mcpSummary(calls))
			mcpCheck(t, p, tools, calls)
		})
	}
}

// mcpWhyRefused says why /mcp refuses the token h holds, if it has one:
// the WWW-Authenticate challenge of a request with it.
func mcpWhyRefused(ctx context.Context, g *e2e.Gatehouse, h *auth.AuthorizationCodeHandler) string {
	ts, err := h.TokenSource(ctx)
	if err != nil || ts == nil {
		return " (the SDK holds no token)"
	}
	tok, err := ts.Token()
	if err != nil {
		return " (the SDK holds no token: " + err.Error() + ")"
	}
	req, _ := http.NewRequestWithContext(ctx, "POST", g.URL+"/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return ""
	}
	resp.Body.Close()
	return fmt.Sprintf(" (the token the SDK got, sent again now: %d %s)", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
}

// mcpGoRedirect is the Go client's redirect URI; nobody listens there: the
// code fetcher reads the code off the redirect.
const mcpGoRedirect = "http://127.0.0.1:53683/callback"

// mcpGoOAuth is the Go SDK's OAuth client, registering dynamically, with a
// code fetcher that signs in as username.
func mcpGoOAuth(t *testing.T, username, password string) *auth.AuthorizationCodeHandler {
	t.Helper()
	return mcpGoOAuthWith(t, username, password, nil)
}

// mcpGoOAuthWith is mcpGoOAuth with the handler's configuration changed by
// tweak before the handler is made (nil: unchanged).
func mcpGoOAuthWith(t *testing.T, username, password string, tweak func(*auth.AuthorizationCodeHandlerConfig)) *auth.AuthorizationCodeHandler {
	t.Helper()
	cfg := mcpGoOAuthConfig(username, password)
	if tweak != nil {
		tweak(cfg)
	}
	h, err := auth.NewAuthorizationCodeHandler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// mcpGoOAuthConfig is the configuration of mcpGoOAuth's handler.
func mcpGoOAuthConfig(username, password string) *auth.AuthorizationCodeHandlerConfig {
	return &auth.AuthorizationCodeHandlerConfig{
		RedirectURL: mcpGoRedirect,
		DynamicClientRegistrationConfig: &auth.DynamicClientRegistrationConfig{Metadata: &oauthex.ClientRegistrationMetadata{
			ClientName: "Gatehouse e2e (Go MCP SDK)", RedirectURIs: []string{mcpGoRedirect},
			TokenEndpointAuthMethod: "none", GrantTypes: []string{"authorization_code", "refresh_token"},
		}},
		AuthorizationCodeFetcher: func(ctx context.Context, args *auth.AuthorizationArgs) (*auth.AuthorizationResult, error) {
			loc, err := mcpSignIn(ctx, args.URL, username, password)
			if err != nil {
				return nil, err
			}
			q := loc.Query()
			if e := q.Get("error"); e != "" {
				return nil, fmt.Errorf("authorization failed: %s: %s", e, q.Get("error_description"))
			}
			return &auth.AuthorizationResult{Code: q.Get("code"), State: q.Get("state"), Iss: q.Get("iss")}, nil
		},
	}
}

// mcpToken signs username in with the Go SDK's OAuth client and returns an
// access token for /mcp.
func mcpToken(t *testing.T, g *e2e.Gatehouse, username, password string) string {
	t.Helper()
	tok, err := tryToken(t.Context(), g, username, password)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// tryToken is mcpToken that returns what went wrong instead of failing
// the test.
func tryToken(ctx context.Context, g *e2e.Gatehouse, username, password string) (string, error) {
	h, err := auth.NewAuthorizationCodeHandler(mcpGoOAuthConfig(username, password))
	if err != nil {
		return "", err
	}
	req, _ := http.NewRequestWithContext(ctx, "POST", g.URL+"/mcp", strings.NewReader("{}"))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		return "", fmt.Errorf("/mcp without a token answered %d, want 401", resp.StatusCode)
	}
	if err := h.Authorize(ctx, req, resp); err != nil {
		return "", fmt.Errorf("OAuth: %w", err)
	}
	ts, err := h.TokenSource(ctx)
	if err != nil {
		return "", err
	}
	tok, err := ts.Token()
	if err != nil {
		return "", err
	}
	return tok.AccessToken, nil
}

// mcpConnect opens a session of the Go SDK's MCP client, named name, to
// g's /mcp with token as its bearer token. The caller closes it.
func mcpConnect(ctx context.Context, t *testing.T, g *e2e.Gatehouse, name, token string) *mcp.ClientSession {
	t.Helper()
	client := mcp.NewClient(&mcp.Implementation{Name: name, Version: "1.0.0"}, nil)
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: g.URL + "/mcp",
		HTTPClient: &http.Client{Transport: mcpBearerTransport{token}}}, nil)
	if err != nil {
		t.Fatalf("connect %s to /mcp: %v", name, err)
	}
	return cs
}

var (
	mcpFormRE   = regexp.MustCompile(`(?is)<form\b[^>]*\baction="([^"]*)"`)
	mcpHiddenRE = regexp.MustCompile(`(?is)<input\b[^>]*\btype="hidden"[^>]*>`)
	mcpNameRE   = regexp.MustCompile(`(?is)\bname="([^"]*)"`)
	mcpValueRE  = regexp.MustCompile(`(?is)\bvalue="([^"]*)"`)
)

// mcpSignIn is a headless browser in Go: from an authorization URL it goes
// through the login and consent forms, as a person clicking through them,
// and returns the redirect to the client (the first redirect that leaves the
// authorization server) without following it.
func mcpSignIn(ctx context.Context, authURL, username, password string) (*url.URL, error) {
	jar, _ := cookiejar.New(nil)
	b := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	start, err := url.Parse(authURL)
	if err != nil {
		return nil, err
	}
	next, method, form := start, "GET", url.Values(nil)
	for range 12 {
		var body io.Reader
		if method == "POST" {
			body = strings.NewReader(form.Encode())
		}
		req, err := http.NewRequestWithContext(ctx, method, next.String(), body)
		if err != nil {
			return nil, err
		}
		if method == "POST" {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := b.Do(req)
		if err != nil {
			return nil, err
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 300 && resp.StatusCode < 400 {
			loc, err := resp.Location()
			if err != nil {
				return nil, err
			}
			if loc.Host != start.Host {
				return loc, nil
			}
			next, method = loc, "GET"
			continue
		}
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("%s %s: %d %s", method, next, resp.StatusCode, page)
		}
		f := mcpFormRE.FindSubmatch(page)
		if f == nil {
			return nil, fmt.Errorf("no form at %s: %s", next, page)
		}
		action, err := next.Parse(html.UnescapeString(string(f[1])))
		if err != nil {
			return nil, err
		}
		form = url.Values{}
		for _, in := range mcpHiddenRE.FindAll(page, -1) {
			n, v := mcpNameRE.FindSubmatch(in), mcpValueRE.FindSubmatch(in)
			if n != nil && v != nil {
				form.Add(html.UnescapeString(string(n[1])), html.UnescapeString(string(v[1])))
			}
		}
		switch s := string(page); {
		case strings.Contains(s, `type="password"`):
			if method == "POST" {
				return nil, fmt.Errorf("the login form refused %s: %s", username, s)
			}
			form.Set("username", username)
			form.Set("password", password)
		case strings.Contains(s, `name="decision"`):
			form.Set("decision", "allow")
		default:
			return nil, fmt.Errorf("unexpected page at %s: %s", next, s)
		}
		next, method = action, "POST"
	}
	return nil, errors.New("no redirect to the client after 12 steps")
}

// TestMCPRemote: mcp-remote, the stdio-to-remote bridge desktop clients use,
// signs in by opening a "browser" and bridges stdio JSON-RPC to /mcp.
//
// mcp-remote opens the browser with the npm package open, which on Linux
// runs the xdg-open script it bundles (not the one in PATH); with no desktop
// that script runs $BROWSER. So the fake browser is both: xdg-open first in
// PATH, and $BROWSER. For the first person it is Debian's Chromium, driven
// by Playwright through the sign-in page to mcp-remote's loopback callback
// (interop/pages/browser.mjs); for the others it signs in with fetch
// (interop/mcp/browser.mjs) and then GETs that callback, as a browser would.
func TestMCPRemote(t *testing.T) {
	pkg := mcpRequirePeer(t, "mcp-remote")
	node := e2e.Node22(t)
	chromium, err := exec.LookPath("chromium")
	e2e.Require(t, err == nil, "chromium (Debian's package)", "apt-get install chromium")
	g := e2e.Start(t, mcpTenant, nil)
	for i, p := range mcpPeople {
		t.Run(p.username, func(t *testing.T) {
			tmp := t.TempDir()
			bin := filepath.Join(tmp, "bin")
			home := filepath.Join(tmp, "home")
			for _, d := range []string{bin, home} {
				if err := os.MkdirAll(d, 0o700); err != nil {
					t.Fatal(err)
				}
			}
			browser := filepath.Join(bin, "xdg-open")
			script := fmt.Sprintf("#!/bin/sh\nexec %q %q \"$1\"\n", node, mcpScript(t, "browser.mjs"))
			if i == 0 {
				script = fmt.Sprintf("#!/bin/sh\nCHROMIUM=%q exec %q %q \"$1\"\n", chromium, node,
					filepath.Join(e2e.InteropDir(t), "pages", "browser.mjs"))
			}
			if err := os.WriteFile(browser, []byte(script), 0o700); err != nil {
				t.Fatal(err)
			}
			browserLog := filepath.Join(tmp, "browser.log")
			env := []string{
				"PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH"),
				"HOME=" + home,
				"MCP_REMOTE_CONFIG_DIR=" + filepath.Join(home, ".mcp-auth"),
				"BROWSER=" + browser,
				"MCP_E2E_USERNAME=" + p.username,
				"MCP_E2E_PASSWORD=" + p.password,
				"MCP_E2E_BROWSER_LOG=" + browserLog,
			}
			for _, kv := range os.Environ() {
				k, _, _ := strings.Cut(kv, "=")
				switch k {
				case "PATH", "HOME", "BROWSER", "DISPLAY", "WAYLAND_DISPLAY", "XDG_CURRENT_DESKTOP", "DESKTOP_SESSION",
					"KDE_FULL_SESSION", "GNOME_DESKTOP_SESSION_ID", "MATE_DESKTOP_SESSION_ID", "XDG_CONFIG_HOME", "XDG_DATA_HOME":
					continue
				}
				if !strings.HasPrefix(k, "MCP_") {
					env = append(env, kv)
				}
			}

			ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, node, filepath.Join(pkg, "dist", "proxy.js"), g.URL+"/mcp", fmt.Sprint(mcpFreePort(t)),
				"--host", "127.0.0.1")
			cmd.Dir = tmp
			cmd.Env = env
			cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
			cmd.WaitDelay = 5 * time.Second
			var stderr strings.Builder
			cmd.Stderr = &stderr
			stdin, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() {
				stdin.Close()
				cancel()
				cmd.Wait()
				if t.Failed() {
					b, _ := os.ReadFile(browserLog)
					t.Logf("mcp-remote stderr:\n%s\nbrowser log:\n%s", stderr.String(), b)
				}
			}()

			rpc := &mcpStdioClient{t: t, in: stdin, out: bufio.NewScanner(stdout)}
			rpc.out.Buffer(make([]byte, 0, 64*1024), 4<<20)
			init := rpc.call("initialize", map[string]any{"protocolVersion": "2025-06-18", "capabilities": map[string]any{},
				"clientInfo": map[string]any{"name": "gatehouse-e2e-stdio", "version": "1.0.0"}})
			var ir struct {
				ServerInfo struct{ Name string } `json:"serverInfo"`
			}
			json.Unmarshal(init, &ir)
			if ir.ServerInfo.Name != "gatehouse" {
				t.Errorf("initialize through mcp-remote: %s", init)
			}
			rpc.notify("notifications/initialized")
			var list struct {
				Tools []struct{ Name string } `json:"tools"`
			}
			if err := json.Unmarshal(rpc.call("tools/list", map[string]any{}), &list); err != nil {
				t.Fatal(err)
			}
			var tools []string
			for _, x := range list.Tools {
				tools = append(tools, x.Name)
			}
			calls := map[string]mcpCallResult{}
			for _, name := range []string{p.may, p.mayNot} {
				var res mcp.CallToolResult
				if err := json.Unmarshal(rpc.call("tools/call", map[string]any{"name": name, "arguments": json.RawMessage(mcpMonth)}), &res); err != nil {
					t.Fatal(err)
				}
				calls[name] = mcpCallResult{IsError: res.IsError, Text: mcpText(&res)}
			}
			t.Logf("mcp-remote as %s: tools %v, calls %s", p.username, tools, mcpSummary(calls))
			mcpCheck(t, p, tools, calls)
			if i == 0 {
				// Signed in through Chromium's pages, not around them (the
				// browser writes its line once the callback's page began).
				var b []byte
				for deadline := time.Now().Add(10 * time.Second); len(b) == 0 && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
					b, _ = os.ReadFile(browserLog)
				}
				if !strings.Contains(string(b), `"browser":"chromium"`) || !strings.Contains(string(b), `"pages":["sign-in"`) {
					t.Errorf("the sign-in did not go through Chromium's pages: %s", b)
				}
			}
		})
	}
}

// mcpStdioClient speaks newline-delimited JSON-RPC to a stdio MCP server.
type mcpStdioClient struct {
	t    *testing.T
	in   io.Writer
	out  *bufio.Scanner
	next int
}

func (c *mcpStdioClient) send(msg map[string]any) {
	b, _ := json.Marshal(msg)
	if _, err := c.in.Write(append(b, '\n')); err != nil {
		c.t.Fatalf("write to mcp-remote: %v", err)
	}
}

func (c *mcpStdioClient) notify(method string) {
	c.send(map[string]any{"jsonrpc": "2.0", "method": method})
}

// call sends a request and returns its result, skipping notifications and
// failing the test on an error answer or when the server stops.
func (c *mcpStdioClient) call(method string, params any) json.RawMessage {
	c.t.Helper()
	c.next++
	id := c.next
	c.send(map[string]any{"jsonrpc": "2.0", "id": id, "method": method, "params": params})
	for c.out.Scan() {
		var msg struct {
			ID     *int            `json:"id"`
			Method string          `json:"method"`
			Result json.RawMessage `json:"result"`
			Error  json.RawMessage `json:"error"`
		}
		if err := json.Unmarshal(c.out.Bytes(), &msg); err != nil || msg.ID == nil || msg.Method != "" || *msg.ID != id {
			continue // a notification, a request to the client, or not JSON-RPC
		}
		if msg.Error != nil {
			c.t.Fatalf("%s answered an error: %s", method, msg.Error)
		}
		return msg.Result
	}
	c.t.Fatalf("mcp-remote stopped before answering %s: %v", method, c.out.Err())
	return nil
}

func mcpText(res *mcp.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			parts = append(parts, tc.Text)
		}
	}
	return strings.Join(parts, "\n")
}

// mcpClaims decodes a JWT's payload, unverified (Gatehouse verified it).
func mcpClaims(t *testing.T, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %q", jwt)
	}
	var c map[string]any
	if b, err := base64.RawURLEncoding.DecodeString(parts[1]); err != nil || json.Unmarshal(b, &c) != nil {
		t.Fatalf("JWT payload %q: %v", parts[1], err)
	}
	return c
}

// mcpFreePort is a loopback port free a moment ago.
func mcpFreePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func mcpLastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
