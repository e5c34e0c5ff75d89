package config_test

import (
	"strings"
	"testing"
)

// TestErrorsNeverShowSecrets: a secret put where the file is refused —
// a password read as an alias, an anchor or a tag, a mistyped secret, a
// URL's userinfo, query or fragment — never appears in the error, which
// still says what is wrong and where.
func TestErrorsNeverShowSecrets(t *testing.T) {
	const secret = "S3cretValue"
	user := func(field string) string {
		return "tenant: acme\nusers:\n  - username: alice\n    " + field + "\n"
	}
	client := func(field string) string {
		return "tenant: acme\nclients:\n  - client_id: svc\n    kind: service\n    " + field + "\n"
	}
	upstream := func(url string) string {
		return "tenant: acme\nupstreams:\n  - name: crm\n    url: \"" + url + "\"\n"
	}
	tool := func(url string) string {
		return "tenant: acme\ntools:\n  - name: t\n    http: {method: GET, url: \"" + url + "\"}\n"
	}
	issuer := func(url string) string {
		return "tenant: acme\nconnections:\n  - name: corp\n    issuer: \"" + url + "\"\n    client_id: gh\n"
	}
	redirect := func(url string) string {
		return "tenant: acme\nclients:\n  - client_id: app\n    kind: native\n    redirect_uris: [\"" + url + "\"]\n"
	}
	envs := func(field string) string {
		return "tenant: acme\nupstreams:\n  - name: files\n    url: https://files.example/mcp\n    " + field + "\n"
	}
	const notAName = "is not an environment variable name"
	tests := []struct {
		name, src, want string
	}{
		// A secret pasted where its variable's name belongs.
		{"secret as a header's variable", envs("headers_env: {Authorization: \"Bearer " + secret + "\"}"), "t.yaml:5: upstreams[0].headers_env.Authorization: " + notAName},
		{"secret shaped like a name, as a header's variable", envs("headers_env: {X-Api-Key: sk_live_" + secret + "}"), "t.yaml:5: upstreams[0].headers_env.X-Api-Key: " + notAName},
		{"secret as a passed variable", "tenant: acme\nupstreams:\n  - name: crm\n    command: [crm]\n    env: [\"CRM_KEY=" + secret + "\"]\n", "upstreams[0].env[0]: " + notAName},
		{"secret as a client secret's variable", "tenant: acme\nconnections:\n  - name: corp\n    issuer: https://corp.example\n    client_id: gh\n    client_secret_env: ghp_" + secret + "\n", "connections[0].client_secret_env: " + notAName},
		{"password read as an alias", user("password: *" + secret), "t.yaml:4: YAML aliases (*name) are not supported"},
		{"password read as an anchor", user("password: &" + secret), "t.yaml:4: users[0].password: YAML anchors (&name) are not supported"},
		{"password read as an anchor and a value", user("password: &" + secret + " rest"), "t.yaml:4: users[0].password: YAML anchors"},
		{"password read as a tag", user("password: !" + secret), "t.yaml:4: users[0].password: YAML tags (!name, !!type) are not supported"},
		{"password read as a tag and a value", user("password: !" + secret + " rest"), "t.yaml:4: users[0].password: YAML tags"},
		{"secret mistyped as an int", client("secret: !!int " + secret + secret + secret), "t.yaml:5: clients[0].secret: YAML tags"},
		{"secret mistyped as binary", client("secret: !!binary " + secret + secret + secret), "t.yaml:5: clients[0].secret: YAML tags"},
		{"secret hash mistyped as a timestamp", client("secret_hash: !!timestamp $argon2id$" + secret), "t.yaml:5: clients[0].secret_hash: YAML tags"},
		{"upstream url with userinfo, not http", upstream("ftp://user:" + secret + "@files.example/mcp"), `upstreams[0].url: "ftp://…@files.example/mcp" is not an http(s) URL`},
		{"upstream url with a token, not http", upstream("ftp://files.example/mcp?token=" + secret), `upstreams[0].url: "ftp://files.example/mcp?…" is not an http(s) URL`},
		{"upstream url with userinfo", upstream("https://user:" + secret + "@crm.example/mcp"), `upstreams[0].url: "https://…@crm.example/mcp": credentials do not belong in the URL`},
		{"upstream url with a fragment, no host", upstream("https:///mcp#" + secret), `upstreams[0].url: "https:///mcp#…" is not an http(s) URL`},
		{"tool url with no scheme", tool("api.example/refund?access_token=" + secret), `tools[0].http.url: "api.example/refund?…" is not an http(s) URL`},
		{"tool url that does not parse", tool("http://[::1/refund?access_token=" + secret), `tools[0].http.url: "http://[::1/refund?…" is not an http(s) URL`},
		{"tool url with a password holding #", tool("http://user:pa#" + secret + "@api.example/x"), `tools[0].http.url: "http://…@api.example/x" is not an http(s) URL`},
		{"userinfo with no //", tool("user:" + secret + "@api.example"), `tools[0].http.url: "…@api.example" is not an http(s) URL`},
		{"issuer over http with a token", issuer("http://idp.example.com/?token=" + secret), `connections[0].issuer: "http://idp.example.com/?…": must be an https URL`},
		{"issuer with userinfo and no host", issuer("https://user:" + secret + "@"), `connections[0].issuer: "https://…@": must be an https URL`},
		{"redirect with userinfo over http", redirect("http://user:" + secret + "@app.example/cb"), `clients[0].redirect_uris[0]: "http://…@app.example/cb": plain http is only allowed`},
		{"redirect with a fragment", redirect("https://app.example/cb?code=x#" + secret), `clients[0].redirect_uris[0]: "https://app.example/cb?…#…": a redirect URI cannot have a fragment`},
		{"redirect with a private scheme and a query", redirect("myapp:/cb?state=" + secret), `clients[0].redirect_uris[0]: "myapp:/cb?…": a private-use scheme must be reverse-DNS shaped`},
		{"redirect that is not absolute", redirect("/cb?code=" + secret), `clients[0].redirect_uris[0]: "/cb?…" is not an absolute URL`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse(t, tt.src)
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			if strings.Contains(msg, secret) {
				t.Errorf("the error shows the secret:\n%s", msg)
			}
			if !strings.Contains(msg, tt.want) {
				t.Errorf("the error does not say %q:\n%s", tt.want, msg)
			}
		})
	}
}
