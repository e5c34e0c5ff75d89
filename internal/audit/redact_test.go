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
