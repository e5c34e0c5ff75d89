package e2e_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/e2e"
)

// This file is a tool author's reading of docs/slips.md, written without
// slipverify or any package of Gatehouse's for the checks themselves:
// only the standard library and what the page says. Real slips, minted by
// a running Gatehouse for real calls, must pass every check the page lists.

// contractSecret is the API's client secret: it holds characters that
// client_secret_basic form-urlencodes, so the page's encoding is exercised.
const contractSecret = "contract+api:secret%2F with/odd chars-of-32+"

// docVerifier checks slips as docs/slips.md says, step by step.
type docVerifier struct {
	issuer, audience, clientID, secret string

	mu   sync.Mutex
	meta struct {
		JWKSURI               string `json:"jwks_uri"`
		IntrospectionEndpoint string `json:"introspection_endpoint"`
	}
	keys map[string]map[string]any
}

// step 1: the issuer's endpoints, from RFC 8414 metadata at the issuer
// URL the tool is configured with.
func (v *docVerifier) discover() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.meta.JWKSURI != "" {
		return nil
	}
	resp, err := http.Get(v.issuer + "/.well-known/oauth-authorization-server")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&v.meta); err != nil {
		return err
	}
	if v.meta.JWKSURI == "" || v.meta.IntrospectionEndpoint == "" {
		return fmt.Errorf("metadata lacks jwks_uri or introspection_endpoint: %+v", v.meta)
	}
	resp, err = http.Get(v.meta.JWKSURI)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		return err
	}
	v.keys = map[string]map[string]any{}
	for _, k := range set.Keys {
		kid, _ := k["kid"].(string)
		v.keys[kid] = k
	}
	return nil
}

// check does steps 2 to 5 and returns the claims.
func (v *docVerifier) check(token string, body []byte, now time.Time) (map[string]any, error) {
	if err := v.discover(); err != nil {
		return nil, err
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, errors.New("not a compact JWS")
	}
	dec := base64.RawURLEncoding
	hb, err1 := dec.DecodeString(parts[0])
	pb, err2 := dec.DecodeString(parts[1])
	sig, err3 := dec.DecodeString(parts[2])
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, err
	}
	var h struct{ Alg, Typ, Kid string }
	if err := json.Unmarshal(hb, &h); err != nil {
		return nil, err
	}
	// Step 2: the signature, with the kid's key, whose algorithm the
	// header's alg must be.
	v.mu.Lock()
	k, ok := v.keys[h.Kid]
	v.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("kid %q is not in the JWKS", h.Kid)
	}
	if k["kty"] != "OKP" || k["crv"] != "Ed25519" || h.Alg != "EdDSA" {
		return nil, fmt.Errorf("alg %q with key %v: the page says slips are EdDSA with an OKP/Ed25519 key", h.Alg, k)
	}
	x, _ := k["x"].(string)
	pub, err := dec.DecodeString(x)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("bad Ed25519 key %v", k)
	}
	if !ed25519.Verify(pub, []byte(parts[0]+"."+parts[1]), sig) {
		return nil, errors.New("bad signature")
	}
	// Step 3: typ.
	if t := strings.TrimPrefix(strings.ToLower(h.Typ), "application/"); t != "gatehouse-slip+jwt" {
		return nil, fmt.Errorf("typ %q", h.Typ)
	}
	// Step 4: the claims.
	d := json.NewDecoder(bytes.NewReader(pb))
	d.UseNumber()
	var c map[string]any
	if err := d.Decode(&c); err != nil {
		return nil, err
	}
	num := func(name string) int64 {
		n, _ := c[name].(json.Number)
		i, err := n.Int64()
		if err != nil {
			return 0
		}
		return i
	}
	iat, exp := num("iat"), num("exp")
	const skew = 5
	switch {
	case c["iss"] != v.issuer:
		return nil, fmt.Errorf("iss %v", c["iss"])
	case c["aud"] != v.audience:
		return nil, fmt.Errorf("aud %#v, want exactly %q", c["aud"], v.audience)
	case iat == 0 || exp == 0:
		return nil, fmt.Errorf("iat %v, exp %v", c["iat"], c["exp"])
	case now.Unix() > exp+skew:
		return nil, errors.New("expired")
	case iat > now.Unix()+skew:
		return nil, errors.New("issued in the future")
	case exp-iat > 60:
		return nil, fmt.Errorf("lives %d s", exp-iat)
	case c["sub"] == nil || c["sub"] == "" || c["jti"] == nil || c["jti"] == "":
		return nil, errors.New("no sub or jti")
	}
	details, _ := c["authorization_details"].([]any)
	var call map[string]any
	for _, e := range details {
		if m, _ := e.(map[string]any); m["type"] == "gatehouse_tool_call" {
			if call != nil {
				return nil, errors.New("two gatehouse_tool_call entries")
			}
			call = m
		}
	}
	if len(details) != 1 || call == nil {
		return nil, fmt.Errorf("authorization_details %v", c["authorization_details"])
	}
	tool, _ := call["tool"].(string)
	if c["scope"] != "tool:"+tool {
		return nil, fmt.Errorf("scope %v for tool %q", c["scope"], tool)
	}
	// Step 5: the arguments.
	canon, err := docCanonical(body)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(canon)
	if got := hex.EncodeToString(sum[:]); call["args_sha256"] != got {
		return nil, fmt.Errorf("args_sha256 %v, the body's canonical form %s hashes to %s", call["args_sha256"], canon, got)
	}
	return c, nil
}

// introspect is step 6: RFC 7662 with client_secret_basic, each part
// form-urlencoded first.
func (v *docVerifier) introspect(token, clientID, secret string) (int, map[string]any, error) {
	if err := v.discover(); err != nil {
		return 0, nil, err
	}
	req, _ := http.NewRequest("POST", v.meta.IntrospectionEndpoint, strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if clientID != "" {
		req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var out map[string]any
	err = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out, err
}

// docCanonical is the page's canonical JSON: its stricter rules (no
// repeated names, none equal under simple case folding) included.
func docCanonical(raw []byte) ([]byte, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var out bytes.Buffer
	if err := docValue(d, &out); err != nil {
		return nil, err
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, errors.New("data after the value")
	}
	return out.Bytes(), nil
}

func docValue(d *json.Decoder, out *bytes.Buffer) error {
	t, err := d.Token()
	if err != nil {
		return err
	}
	switch t := t.(type) {
	case json.Delim:
		if t == '[' {
			out.WriteByte('[')
			for i := 0; d.More(); i++ {
				if i > 0 {
					out.WriteByte(',')
				}
				if err := docValue(d, out); err != nil {
					return err
				}
			}
			d.Token()
			out.WriteByte(']')
			return nil
		}
		type member struct {
			name  string
			value []byte
		}
		var ms []member
		for d.More() {
			nt, err := d.Token()
			if err != nil {
				return err
			}
			name := nt.(string)
			for _, m := range ms {
				if strings.EqualFold(m.name, name) {
					return fmt.Errorf("members %q and %q", m.name, name)
				}
			}
			var v bytes.Buffer
			if err := docValue(d, &v); err != nil {
				return err
			}
			ms = append(ms, member{name, v.Bytes()})
		}
		d.Token()
		slices.SortFunc(ms, func(a, b member) int {
			return slices.Compare(utf16.Encode([]rune(a.name)), utf16.Encode([]rune(b.name)))
		})
		out.WriteByte('{')
		for i, m := range ms {
			if i > 0 {
				out.WriteByte(',')
			}
			docString(out, m.name)
			out.WriteByte(':')
			out.Write(m.value)
		}
		out.WriteByte('}')
	case string:
		docString(out, t)
	case json.Number:
		f, err := strconv.ParseFloat(string(t), 64)
		if err != nil {
			return err
		}
		out.WriteString(esNumber(f))
	case bool:
		out.WriteString(strconv.FormatBool(t))
	case nil:
		out.WriteString("null")
	}
	return nil
}

func docString(out *bytes.Buffer, s string) {
	out.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			out.WriteString(`\"`)
		case '\\':
			out.WriteString(`\\`)
		case '\b':
			out.WriteString(`\b`)
		case '\f':
			out.WriteString(`\f`)
		case '\n':
			out.WriteString(`\n`)
		case '\r':
			out.WriteString(`\r`)
		case '\t':
			out.WriteString(`\t`)
		default:
			if r < 0x20 {
				fmt.Fprintf(out, `\u%04x`, r)
			} else {
				out.WriteRune(r)
			}
		}
	}
	out.WriteByte('"')
}

// esNumber is ECMAScript's Number.prototype.toString (ECMA-262
// Number::toString), from the shortest round-trip digits.
func esNumber(f float64) string {
	if f == 0 {
		return "0"
	}
	if f < 0 {
		return "-" + esNumber(-f)
	}
	e := strconv.FormatFloat(f, 'e', -1, 64) // d.ddde±x
	mant, exp, _ := strings.Cut(e, "e")
	digits := strings.Replace(mant, ".", "", 1)
	x, _ := strconv.Atoi(exp)
	k, n := len(digits), x+1
	switch {
	case k <= n && n <= 21:
		return digits + strings.Repeat("0", n-k)
	case 0 < n && n <= 21:
		return digits[:n] + "." + digits[n:]
	case -6 < n && n <= 0:
		return "0." + strings.Repeat("0", -n) + digits
	}
	sign := "+"
	if n-1 < 0 {
		sign = "-"
	}
	exps := strconv.Itoa(max(n-1, 1-n))
	if k == 1 {
		return digits + "e" + sign + exps
	}
	return digits[:1] + "." + digits[1:] + "e" + sign + exps
}

// contractAPI is an HTTP API tool that checks its slips with docVerifier.
type contractAPI struct {
	v *docVerifier

	mu       sync.Mutex
	requests []contractRequest
}

type contractRequest struct {
	method, token string
	header        http.Header
	body          []byte
	claims        map[string]any
	err           error
}

func (a *contractAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	c, err := a.v.check(token, body, time.Now())
	a.mu.Lock()
	a.requests = append(a.requests, contractRequest{method: r.Method, token: token, header: r.Header.Clone(), body: body, claims: c, err: err})
	a.mu.Unlock()
	if err != nil {
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte(`{"ok":true}`))
}

func (a *contractAPI) take() []contractRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := a.requests
	a.requests = nil
	return out
}

// TestSlipContractForOtherLanguages: a tool written only from
// docs/slips.md (no slipverify) verifies and redeems the real slips of a
// running Gatehouse, for arguments in every spelling the page's canonical
// JSON covers; and Gatehouse refuses, before any slip, the arguments the
// page says it refuses.
func TestSlipContractForOtherLanguages(t *testing.T) {
	api := &contractAPI{}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	g := e2e.Start(t, `
tenant: acme
roles:
  - name: support
users:
  - username: carol
    email: carol@acme.example
    password: carol-e2e-password
    roles: [support]
clients:
  - client_id: contract-api
    kind: service
    secret: "`+contractSecret+`"
  - client_id: other-api
    kind: service
    secret: "other-api-secret-of-at-least-32-characters"
tools:
  - name: refund
    description: Refunds an order
    http: {method: POST, url: "`+srv.URL+`/refund", client_id: contract-api}
    input_schema: {type: object}
    roles: [support]
`, nil)
	api.v = &docVerifier{issuer: g.URL, audience: g.URL + "/tools/" + url.PathEscape("refund"),
		clientID: "contract-api", secret: contractSecret}

	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	token := mcpToken(t, g, "carol", "carol-e2e-password")
	cs := mcpConnect(ctx, t, g, "gatehouse-e2e-slip-contract", token)
	t.Cleanup(func() { cs.Close() })

	// Arguments as an agent may spell them, and the body the page says
	// the API receives: their canonical JSON.
	for _, tt := range []struct{ args, body string }{
		{`{"amount":12}`, `{"amount":12}`},
		{``, `{}`},
		{` { "b" : [ 1.0 , -0, 1E21, 0.000001, 1e-7, 12.50, 1e300, 5e-324 ], "a" : null } `,
			`{"a":null,"b":[1,0,1e+21,0.000001,1e-7,12.5,1e+300,5e-324]}`},
		{`{"n":9007199254740993.0,"m":18014398509481984,"k":123456789012345680000}`,
			`{"k":123456789012345680000,"m":18014398509481984,"n":9007199254740992}`},
		// UTF-16 order: U+1F600 (D83D DE00) before U+FB01, which code
		// point order would swap; "é" (00E9) after "z", "Y" before it.
		{`{"\ufb01":1,"😀":2,"z":3,"é":4,"Y":5}`, `{"Y":5,"z":3,"é":4,"😀":2,"ﬁ":1}`},
		{`{"s":"a/b \u00e9 \ud83d\ude00 \u2028 <&> \u007f \"\\ \b\f\n\r\t \u0001 \u001F"}`,
			"{\"s\":\"a/b é 😀 \u2028 <&> \u007f \\\"\\\\ \\b\\f\\n\\r\\t \\u0001 \\u001f\"}"},
		{`{"deep":{"y":[{"b":true,"a":false}],"x":{}}}`, `{"deep":{"x":{},"y":[{"a":false,"b":true}]}}`},
	} {
		var args any
		if tt.args != "" {
			args = json.RawMessage(tt.args)
		}
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "refund", Arguments: args})
		if err != nil {
			t.Fatalf("%s: %v", tt.args, err)
		}
		reqs := api.take()
		if len(reqs) != 1 {
			t.Fatalf("%s: the API got %d requests (result %q)", tt.args, len(reqs), mcpText(res))
		}
		r := reqs[0]
		if r.err != nil || res.IsError {
			t.Errorf("%s: the page's checks refused a real slip: %v (result %q)", tt.args, r.err, mcpText(res))
			continue
		}
		if string(r.body) != tt.body {
			t.Errorf("%s: body %s, want %s", tt.args, r.body, tt.body)
		}
		if got, _ := docCanonical(r.body); !bytes.Equal(got, r.body) {
			t.Errorf("%s: the body %s is not canonical by the page: %s", tt.args, r.body, got)
		}
		// The request is the one the page shows, and carries nothing of
		// the person's access token.
		if r.method != "POST" || r.header.Get("Content-Type") != "application/json" || r.header.Get("Accept") != "application/json" {
			t.Errorf("%s: %s with headers %v", tt.args, r.method, r.header)
		}
		for k, vs := range r.header {
			if strings.Contains(strings.Join(vs, " "), token) || strings.Contains(string(r.body), token) {
				t.Errorf("%s: header %s carries the person's access token", tt.args, k)
			}
		}
		// Claims the page describes.
		c := r.claims
		act, _ := c["act"].(map[string]any)
		call := c["authorization_details"].([]any)[0].(map[string]any)
		if c["sub"] != "carol" || act["sub"] == nil || act["client_id"] != act["sub"] || call["tool"] != "refund" ||
			call["redeemer"] != "contract-api" || c["txn"] == nil || c["txn"] == "" {
			t.Errorf("%s: claims %v", tt.args, c)
		}

		// Step 6. Another service client is refused, without spending it.
		if code, out, err := api.v.introspect(r.token, "other-api", "other-api-secret-of-at-least-32-characters"); err != nil || code != 200 || out["active"] != false || len(out) != 1 {
			t.Errorf("%s: introspection by another service client = %d %v %v, want {\"active\": false}", tt.args, code, out, err)
		}
		// Unauthenticated: no answer about the slip.
		if code, out, _ := api.v.introspect(r.token, "", ""); code != http.StatusUnauthorized || out["active"] != nil {
			t.Errorf("%s: introspection without client authentication = %d %v", tt.args, code, out)
		}
		code, out, err := api.v.introspect(r.token, api.v.clientID, api.v.secret)
		if err != nil || code != 200 || out["active"] != true || out["jti"] != c["jti"] || out["sub"] != "carol" ||
			out["aud"] != api.v.audience || out["iss"] != g.URL || out["scope"] != "tool:refund" {
			t.Errorf("%s: first introspection = %d %v %v", tt.args, code, out, err)
		}
		code, out, err = api.v.introspect(r.token, api.v.clientID, api.v.secret)
		if err != nil || code != 200 || out["active"] != false || len(out) != 1 {
			t.Errorf("%s: second introspection = %d %v %v, want exactly {\"active\": false}", tt.args, code, out, err)
		}
	}

	// What the page says Gatehouse refuses never reaches the API.
	for _, args := range []string{
		`{"amount":1,"amount":2}`,
		`{"amount":1,"Amount":2}`,
		`{"scope":1,"ſcope":2}`,
		`{"kind":1,"Kind":2}`,
		`{"n":9007199254740993}`,
		`{"n":-9007199254740993}`,
		`{"n":100000000000000000000000}`,
		`{"s":"\ud800"}`,
		`{"s":"\udc00\ud800"}`,
		`{"d":` + strings.Repeat("[", 64) + strings.Repeat("]", 64) + `}`,
		`[1]`,
	} {
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "refund", Arguments: json.RawMessage(args)})
		if reqs := api.take(); len(reqs) != 0 || err == nil && !res.IsError {
			t.Errorf("%.60s: Gatehouse sent %d requests to the API (err %v)", args, len(reqs), err)
		}
	}
	// 64 levels are fine.
	deep := `{"d":` + strings.Repeat("[", 63) + strings.Repeat("]", 63) + `}`
	if res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "refund", Arguments: json.RawMessage(deep)}); err != nil || res.IsError {
		t.Errorf("64 levels: %v %v", err, res)
	}
	if reqs := api.take(); len(reqs) != 1 || reqs[0].err != nil {
		t.Errorf("64 levels: the API got %v", reqs)
	}
}
