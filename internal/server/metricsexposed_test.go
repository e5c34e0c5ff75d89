package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse/gatehouse/internal/server"
)

// seenAt is a listener that says it listens at addr: how a test sees
// what the server makes of an address it may not bind (every interface,
// a private network's) while it listens on loopback.
type seenAt struct {
	net.Listener
	addr net.Addr
}

func (l seenAt) Addr() net.Addr { return l.addr }

// lockedBuffer is a log a running server writes while a test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestMetricsAddrNotLoopbackWarned: --metrics-addr serves /metrics to
// anyone who reaches it, with no token; bound at an address that is not
// loopback (every interface, ":9090", as a container's setup often has
// it, or a private network's), the start says so in a warning naming the
// address, so that an operator who meant loopback sees it. On loopback
// there is no such warning.
func TestMetricsAddrNotLoopbackWarned(t *testing.T) {
	for _, tc := range []struct {
		seen string // the address the metrics listener says it is at
		warn bool
	}{
		{"0.0.0.0", true},
		{"::", true},
		{"10.1.2.3", true},
		{"127.0.0.1", false},
		{"::1", false},
	} {
		t.Run(tc.seen, func(t *testing.T) {
			ln, err := server.Listen("127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			mln, err := server.Listen("127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer mln.Close()
			addr := &net.TCPAddr{IP: net.ParseIP(tc.seen), Port: 9090}
			var logs lockedBuffer
			o := server.Options{Store: server.StoreOptions{DataDir: t.TempDir()}, MetricsListener: seenAt{mln, addr},
				Logger: slog.New(slog.NewJSONHandler(&logs, nil))}
			s, err := server.New(context.Background(), o, ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ctx, cancel := context.WithCancel(context.Background())
			ready := make(chan struct{})
			o.OnListen = func(string) { close(ready) }
			done := make(chan error, 1)
			go func() { done <- s.Serve(ctx, ln, o) }()
			defer func() { cancel(); <-done }()
			<-ready
			var warned []string
			for _, line := range strings.Split(logs.String(), "\n") {
				var rec struct {
					Level, Msg, Addr string
				}
				if json.Unmarshal([]byte(line), &rec) == nil && rec.Level == "WARN" && strings.Contains(rec.Msg, "metrics") {
					warned = append(warned, line)
					if rec.Addr != addr.String() || !strings.Contains(rec.Msg, "without a token") {
						t.Errorf("the warning does not name the address nor say no token is asked: %s", line)
					}
				}
			}
			if got := len(warned) > 0; got != tc.warn {
				t.Errorf("metrics at %s: warned %v, want %v\n%s", addr, got, tc.warn, logs.String())
			}
		})
	}
}
