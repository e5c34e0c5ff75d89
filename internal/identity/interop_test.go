package identity

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// interopModules finds the pinned JavaScript peers (npm ci in interop/).
// A missing peer skips the test, except under CI=true where it fails.
func interopModules(t *testing.T) (node, modules string) {
	t.Helper()
	modules, _ = filepath.Abs("../../interop/node_modules")
	node = filepath.Join(modules, ".bin", "node")
	if _, err := os.Stat(filepath.Join(modules, "openid-client")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("interop/node_modules is missing: run npm ci in interop/")
		}
		t.Skip("interop/node_modules is missing (npm ci in interop/): skipping the JavaScript peers")
	}
	if _, err := os.Stat(node); err != nil {
		if node, err = exec.LookPath("node"); err != nil {
			// Under CI=true a missing peer is a failure, node included.
			if os.Getenv("CI") == "true" {
				t.Fatal("node is not installed: neither interop/node_modules/.bin/node nor node in PATH")
			}
			t.Skip("node is not installed")
		}
	}
	return node, modules
}

func runPeer(t *testing.T, script, redirect string) map[string]any {
	node, modules := interopModules(t)
	h := newHarness(t)
	cmd := exec.CommandContext(t.Context(), node, filepath.Join("testdata", "interop", script))
	cmd.Env = append(os.Environ(), "ISSUER="+h.srv.URL, "REDIRECT="+redirect, "INTEROP_MODULES="+modules)
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("%s: %v\n%s\n%s", script, err, out, stderr)
	}
	var got map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%s: output %q", script, out)
	}
	return got
}

func TestOpenIDClientPeer(t *testing.T) {
	got := runPeer(t, "openid_client.mjs", webRedirect)
	want := map[string]any{"sub": "alice", "email": "alice@acme.example", "refreshedSub": "alice", "active": true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("openid-client (-want +got):\n%s", diff)
	}
}

func TestOAuth4WebAPIPeer(t *testing.T) {
	got := runPeer(t, "oauth4webapi.mjs", nativeRedirect)
	want := map[string]any{"sub": "alice", "email": "alice@acme.example"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("oauth4webapi (-want +got):\n%s", diff)
	}
}

func TestMCPSDKAuthPeer(t *testing.T) {
	node, modules := interopModules(t)
	h := newHarness(t)
	// The gateway serves the real protected resource metadata; the test
	// serves the same document so the SDK's discovery starts where it does
	// against Gatehouse.
	h.mux.HandleFunc("GET /.well-known/oauth-protected-resource/mcp", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"resource": h.srv.URL + "/mcp",
			"authorization_servers": []string{h.srv.URL}})
	})
	cmd := exec.CommandContext(t.Context(), node, filepath.Join("testdata", "interop", "mcp_sdk.mjs"))
	cmd.Env = append(os.Environ(), "ISSUER="+h.srv.URL, "REDIRECT=http://localhost:47123/callback", "INTEROP_MODULES="+modules)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("mcp_sdk.mjs: %v\n%s", err, out)
	}
	var got map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("output %q", out)
	}
	want := map[string]any{"first": "REDIRECT", "second": "AUTHORIZED", "third": "AUTHORIZED", "aud": h.srv.URL + "/mcp",
		"sub": "alice", "registered": true, "resourceSent": h.srv.URL + "/mcp", "refreshed": true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("MCP SDK (-want +got):\n%s", diff)
	}
}

// TestFederationWithOIDCProvider signs in through a real upstream OpenID
// provider (the oidc-provider package) run locally: its login and consent
// pages, its ID token (whose claims it keeps for userinfo by default).
func TestFederationWithOIDCProvider(t *testing.T) {
	node, modules := interopModules(t)
	var upstreamIssuer string
	h := newHarness(t, func(p *Provider) {
		cmd := exec.Command(node, filepath.Join("testdata", "interop", "upstream_oidc_provider.mjs"))
		cmd.Env = append(os.Environ(), "REDIRECT="+p.Issuer+"/login/up/callback", "INTEROP_MODULES="+modules)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil {
			t.Fatalf("oidc-provider did not start: %v", err)
		}
		upstreamIssuer = strings.TrimSpace(line)
		p.Connections = []*Connection{{Name: "up", Issuer: upstreamIssuer, ClientID: "gatehouse", ClientSecret: "up-secret",
			RolesClaim: "groups", RoleMap: map[string][]string{"Sales": {"sales-manager"}}}}
	})
	createRoles(t, h, "sales-manager")
	b := h.browser()
	next := h.url("/login/up?next=%2Fadmin")
	inputRE := regexp.MustCompile(`<input[^>]*name="([^"]+)"[^>]*>`)
	valueRE := regexp.MustCompile(`value="([^"]*)"`)
	actionRE := regexp.MustCompile(`<form[^>]*action="([^"]+)"`)
	var resp *http.Response
	var err error
	method, form := "GET", url.Values(nil)
	for step := 0; ; step++ {
		if step > 20 {
			t.Fatal("too many steps")
		}
		if method == "GET" {
			resp, err = b.Get(next)
		} else {
			resp, err = b.PostForm(next, form)
		}
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(next, h.url("/login/up/callback")) {
			break
		}
		html := body(t, resp)
		if loc, err := resp.Location(); err == nil {
			next, method = loc.String(), "GET"
			continue
		}
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", next, resp.StatusCode, html)
		}
		// Gatehouse's login page: its button for the upstream.
		if i := strings.Index(html, `action="`+h.url("/login/up")+`"`); i >= 0 {
			html = html[strings.LastIndex(html[:i], "<form"):]
		}
		m := actionRE.FindStringSubmatch(html)
		if m == nil {
			t.Fatalf("no form at %s: %s", next, html)
		}
		base, _ := url.Parse(next)
		action, _ := base.Parse(unescapeHTML(m[1]))
		form = url.Values{}
		for _, in := range inputRE.FindAllStringSubmatch(html, -1) {
			v := ""
			if vm := valueRE.FindStringSubmatch(in[0]); vm != nil {
				v = unescapeHTML(vm[1])
			}
			form.Set(in[1], v)
		}
		if form.Has("login") {
			form.Set("login", "dana")
			form.Set("password", "anything")
		}
		next, method = action.String(), "POST"
	}
	body(t, resp)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin" {
		t.Fatalf("callback: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	u, err := h.db.Users().Get(t.Context(), "up:dana")
	if err != nil || u.Email != "dana@up.example" || u.Attributes["idp_sub"] != "dana" ||
		!slices.Equal(u.Roles, []string{"sales-manager"}) {
		t.Fatalf("user %+v %v", u, err)
	}
	req := httptest.NewRequest("GET", "/admin", nil)
	for _, c := range b.Jar.Cookies(resp.Request.URL) {
		req.AddCookie(c)
	}
	if su, ok := h.p.SessionUser(req); !ok || su.Username != "up:dana" {
		t.Errorf("SessionUser = %v %v", su.Username, ok)
	}
}
