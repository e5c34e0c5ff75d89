package audit_test

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/internal/audit"
)

func TestRedact(t *testing.T) {
	var in any
	if err := json.Unmarshal([]byte(`{"user":"alice","password":"hunter2",`+
		`"auth":{"api_key":"k","Client_Secret":"s","scope":"read"},`+
		`"list":[{"refresh_token":"r"},"plain"],"n":1}`), &in); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"user": "alice", "password": audit.Redacted,
		"auth": map[string]any{"api_key": audit.Redacted, "Client_Secret": audit.Redacted, "scope": "read"},
		"list": []any{map[string]any{"refresh_token": audit.Redacted}, "plain"}, "n": float64(1)}
	if diff := cmp.Diff(want, audit.Redact(in)); diff != "" {
		t.Errorf("Redact (-want +got):\n%s", diff)
	}
	if s := audit.Redact("password"); s != "password" {
		t.Errorf("a plain value redacted: %v", s)
	}
}

// TestRedactTypedValues: a value of another type than encoding/json
// decodes into (a typed slice of maps, a struct, JSON text kept as a
// json.RawMessage) is redacted as the JSON the trail will hold. Before,
// such a value passed untouched, secrets and all.
func TestRedactTypedValues(t *testing.T) {
	type creds struct {
		User     string `json:"user"`
		Password string `json:"password"`
	}
	for name, tc := range map[string]struct {
		in   any
		want any
	}{
		"typed slice": {[]map[string]any{{"token": "t1", "n": 1}},
			[]any{map[string]any{"token": audit.Redacted, "n": float64(1)}}},
		"struct":   {creds{"alice", "hunter2"}, map[string]any{"user": "alice", "password": audit.Redacted}},
		"raw JSON": {json.RawMessage(`{"api_key":"k","x":[1]}`), map[string]any{"api_key": audit.Redacted, "x": []any{float64(1)}}},
		"map of strings in a map": {map[string]any{"h": map[string][]string{"Authorization": {"Bearer x"}}},
			map[string]any{"h": map[string]any{"Authorization": audit.Redacted}}},
	} {
		if diff := cmp.Diff(tc.want, audit.Redact(tc.in)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
	if v := audit.Redact(42); v != 42 {
		t.Errorf("a number: %v", v)
	}
}

// TestRedactKeysWhateverTheirSpelling: a secret-looking key is one
// whatever its case and separators: camelCase token names, hyphenated
// header names, a passphrase. Keys that are no secret are kept.
func TestRedactKeysWhateverTheirSpelling(t *testing.T) {
	in := map[string]any{
		"accessToken": "at-secret", "refreshToken": "rt-secret", "idToken": "id-secret", "authToken": "auth-secret",
		"X-Api-Key": "header-secret", "api-key": "k-secret", "passphrase": "pp-secret", "Client.Secret": "cs-secret",
		"token_type": "refresh_token", "grant_type": "authorization_code", "tool": "refund",
	}
	out := audit.Redact(in).(map[string]any)
	for _, k := range []string{"accessToken", "refreshToken", "idToken", "authToken", "X-Api-Key", "api-key", "passphrase", "Client.Secret"} {
		if out[k] != audit.Redacted {
			t.Errorf("%q kept as %q, want %q", k, out[k], audit.Redacted)
		}
	}
	for _, k := range []string{"token_type", "grant_type", "tool"} {
		if out[k] != in[k] {
			t.Errorf("%q redacted: %q", k, out[k])
		}
	}
}
