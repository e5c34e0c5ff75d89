package audit_test

import (
	"bufio"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/audit"
)

// TestWebhookRefusalDoesNotQuoteTheReasonPhrase: a receiver's refusal is
// shown as its status code (the stream's last error, in the admin API's
// JSON and the log), not as the reason phrase the receiver wrote, which
// can hold a C1 CSI or a bidirectional override that JSON leaves as they
// are: what an admin's terminal shows is not the receiver's to choose.
func TestWebhookRefusalDoesNotQuoteTheReasonPhrase(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
					return
				}
				c.Write([]byte("HTTP/1.1 503 busy \u009b2J\u009bH\u202eok\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
			}()
		}
	}()
	wh, err := audit.NewWebhook("w", "http://"+ln.Addr().String()+"/hook", []byte("webhook-test-secret"), nil)
	if err != nil {
		t.Fatal(err)
	}
	err = wh.Send(t.Context(), []audit.Entry{{Seq: 1, Event: audit.Event{Type: audit.Logout}}})
	if err == nil {
		t.Fatal("a 503 counted delivered")
	}
	if strings.ContainsAny(err.Error(), "\u009b\u202e") {
		t.Errorf("the error quotes the receiver's reason phrase as it is: %q", err)
	}
	if !strings.Contains(err.Error(), "503") {
		t.Errorf("the error does not say the status: %v", err)
	}
}
