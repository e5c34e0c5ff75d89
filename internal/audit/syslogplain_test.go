package audit_test

import (
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/audit"
)

// TestSyslogInClearOnlyToThisMachine: as the webhook (https, or http to
// this machine only) and the HTTP tools and upstreams (https, or
// allow_plain_http), syslog over tcp or udp sends the trail in clear: to
// another host it is refused unless the caller accepts that explicitly
// (AllowPlain); tls is taken to any host. Nothing here dials.
func TestSyslogInClearOnlyToThisMachine(t *testing.T) {
	for _, network := range []string{"udp", "tcp"} {
		for _, addr := range []string{"siem.example:514", "10.0.0.7:514", "[fe80::1]:514"} {
			_, err := audit.NewSyslog("x", network, addr, nil)
			if err == nil || !strings.Contains(err.Error(), "in clear") || !strings.Contains(err.Error(), "tls") {
				t.Errorf("%s %s: %v; want a refusal", network, addr, err)
			}
			s, err := audit.NewSyslog("x", network, addr, &audit.SyslogOptions{AllowPlain: true})
			if err != nil {
				t.Errorf("%s %s with AllowPlain: %v", network, addr, err)
			} else {
				s.Close()
			}
		}
		for _, addr := range []string{"127.0.0.1:514", "localhost:514", "[::1]:514", "127.8.9.10:514"} {
			s, err := audit.NewSyslog("x", network, addr, nil)
			if err != nil {
				t.Errorf("%s %s (this machine) refused: %v", network, addr, err)
			} else {
				s.Close()
			}
		}
		if _, err := audit.NewSyslog("x", network, "no-port", nil); err == nil {
			t.Errorf("%s syslog without a port accepted", network)
		}
	}
	s, err := audit.NewSyslog("x", "tls", "siem.example:6514", nil)
	if err != nil {
		t.Errorf("tls to another host: %v", err)
	} else {
		s.Close()
	}
}
