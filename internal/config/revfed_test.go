package config_test

import (
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/config"
)

// TestRevfedInlineConnectionSecretNotEchoed: a client secret written in the
// file (a natural mistake: the key is client_secret_env) is refused
// without repeating the value.
func TestRevfedInlineConnectionSecretNotEchoed(t *testing.T) {
	for _, doc := range []string{
		"tenant: acme\nconnections:\n  - name: corp\n    issuer: https://corp.example\n    client_id: gh\n    client_secret: hunter2-very-secret\n",
		"tenant: acme\nconnections:\n  - name: corp\n    issuer: https://corp.example\n    client_id: gh\n    client_secret_env: hunter2-very-secret\n",
		"tenant: acme\nconnections:\n  - name: corp\n    issuer: https://corp.example\n    client_id: gh\n    client_secret_env: [hunter2-very-secret]\n",
	} {
		f, err := config.Parse(strings.NewReader(doc), "t.yaml")
		var msg string
		if err != nil {
			msg = err.Error()
		} else if verr := f.Validate(nil); verr != nil {
			msg = verr.Error()
		}
		t.Logf("%s", msg)
		if strings.Contains(msg, "hunter2") {
			t.Errorf("the secret is in the error: %s", msg)
		}
	}
}

// TestRevfedIssuerIsAPlainURL: an issuer is an https URL with no query or
// fragment (OpenID Connect Discovery §3, RFC 8414 §2), and no userinfo:
// one with a password in it would be repeated in every discovery error.
func TestRevfedIssuerIsAPlainURL(t *testing.T) {
	for _, iss := range []string{"https://gh:hunter2@corp.example", "https://corp.example?x=1", "https://corp.example#f"} {
		doc := "tenant: acme\nconnections:\n  - name: corp\n    issuer: " + iss + "\n    client_id: gh\n"
		f, err := config.Parse(strings.NewReader(doc), "t.yaml")
		if err != nil {
			t.Fatal(err)
		}
		verr := f.Validate(nil)
		if verr == nil {
			t.Errorf("issuer %q accepted", iss)
		} else if strings.Contains(verr.Error(), "hunter2") {
			t.Errorf("the password is in the error: %v", verr)
		}
	}
}
