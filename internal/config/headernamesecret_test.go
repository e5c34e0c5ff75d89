package config_test

import (
	"strings"
	"testing"
)

// TestHeaderNameErrorsNeverShowSecrets: what stands where a header's name
// belongs in headers_env and is no header name (a credential pasted there,
// "Bearer …", or a whole "Authorization: Bearer …" line) is not repeated by
// the error, as the variable's name in the value position is not.
func TestHeaderNameErrorsNeverShowSecrets(t *testing.T) {
	const secret = "S3cretValue"
	for _, src := range []string{
		"tenant: acme\nupstreams:\n  - name: files\n    url: https://files.example/mcp\n    headers_env: {\"Bearer " + secret + "\": FILES_AUTH}\n",
		"tenant: acme\nupstreams:\n  - name: files\n    url: https://files.example/mcp\n    headers_env: {\"Authorization: Bearer " + secret + "\": FILES_AUTH}\n",
	} {
		_, err := parse(t, src)
		if err == nil {
			t.Fatalf("accepted:\n%s", src)
		}
		msg := err.Error()
		if strings.Contains(msg, secret) {
			t.Errorf("the error shows the secret:\n%s", msg)
		}
		if !strings.Contains(msg, "t.yaml:5: upstreams[0].headers_env") || !strings.Contains(msg, "is not a header name") {
			t.Errorf("the error does not say what is wrong where:\n%s", msg)
		}
	}
}
