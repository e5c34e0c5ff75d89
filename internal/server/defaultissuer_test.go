package server_test

import (
	"context"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/server"
)

// TestNonLoopbackAddrWithoutIssuer: 'serve --addr 0.0.0.0:8080' without
// --issuer is refused with an error that names the --addr given and asks
// for --issuer, not one that quotes an --issuer the operator never gave
// (the listener's "http://[::]:8080").
func TestNonLoopbackAddrWithoutIssuer(t *testing.T) {
	o := server.Options{Addr: "0.0.0.0:8080", Store: server.StoreOptions{DataDir: t.TempDir()}}
	_, err := server.New(context.Background(), o, "[::]:8080")
	if err == nil {
		t.Fatal("a non-loopback address served a plain-http issuer")
	}
	if msg := err.Error(); !strings.Contains(msg, "--addr 0.0.0.0:8080") || !strings.Contains(msg, "give --issuer") || strings.Contains(msg, "[::]") {
		t.Errorf("error: %v", err)
	}
	o.Issuer = "http://id.acme.example"
	if _, err := server.New(context.Background(), o, "[::]:8080"); err == nil || !strings.Contains(err.Error(), `--issuer "http://id.acme.example" must be https`) {
		t.Errorf("plain-http --issuer: %v", err)
	}
}
