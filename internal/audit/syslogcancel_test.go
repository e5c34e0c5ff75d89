package audit_test

import (
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
)

// TestSyslogSendReturnsWhenCancelled: Send returns once its context ends
// (the Sink contract), also while a TCP receiver that stopped reading
// holds a write: cancelled (the stream closing, at shutdown), not only
// at the context's deadline.
func TestSyslogSendReturnsWhenCancelled(t *testing.T) {
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
			defer c.Close() // accepted, never read
		}
	}()
	sl, err := audit.NewSyslog("stuck", "tcp", ln.Addr().String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sl.Close()
	// More than the sockets' buffers hold.
	pad, _ := json.Marshal(strings.Repeat("x", 1<<20))
	raw := json.RawMessage(`{"type":"logout","detail":{"pad":` + string(pad) + `}}`)
	var entries []audit.Entry
	for i := range 64 {
		entries = append(entries, audit.Entry{Seq: int64(i + 1), Time: time.Now(), Raw: raw})
	}
	// As the stream sends: under SendTimeout, cancelled when it closes.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	time.AfterFunc(500*time.Millisecond, cancel)
	start := time.Now()
	err = sl.Send(ctx, entries)
	took := time.Since(start)
	t.Logf("Send: %v after %v", err, took)
	if err == nil {
		t.Fatal("64 MiB delivered to a receiver that never reads")
	}
	if took > 5*time.Second {
		t.Errorf("Send returned %v after its context was cancelled (at 500ms)", took-500*time.Millisecond)
	}
}
