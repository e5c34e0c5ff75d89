package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// A stdio upstream's program may start programs of its own (sh -c, npx,
// helpers) that inherit its stdout and stderr. Stopping only the process
// the gateway started leaves them running, holding the pipes, and os/exec
// then waits for them for ever: its Wait, and the goroutine copying
// stderr to the log, never return. So each command runs as the leader of
// a process group of its own, its Wait gives up on the pipes shortly
// after the leader exits, and closing its connection ends the whole group.

const (
	// stdioTerminate is how long closing a stdio upstream waits after
	// closing its stdin before it signals the process (SIGTERM), and again
	// before SIGKILL (stdinPipe.Close).
	stdioTerminate = 2 * time.Second
	// stdioWaitDelay is how long Wait waits for the pipes once the
	// process has exited: what still holds them then is an abandoned
	// child, and the pipes are closed under it.
	stdioWaitDelay = time.Second
	// stdioGroupGrace is how long what is left of the group has between
	// SIGTERM and SIGKILL.
	stdioGroupGrace = 2 * time.Second
)

// stdioCommand is the command of a stdio upstream: argv run with env in
// stdioDir, never in the gateway's working directory, whose files (its
// data folder, a master key file) are no business of a third party's
// program and which another user might have put a configuration file in
// for it. A program named by a relative path (./bin/server) is still the
// one next to the gateway's working directory; relative arguments are
// relative to stdioDir.
func stdioCommand(argv, env []string) (*exec.Cmd, error) {
	name := argv[0]
	// A path, not a name to look up in PATH: one with a separator ('/'
	// on every platform, '\\' too on Windows).
	if (strings.ContainsRune(name, '/') || strings.ContainsRune(name, filepath.Separator)) && !filepath.IsAbs(name) {
		abs, err := filepath.Abs(name)
		if err != nil {
			return nil, fmt.Errorf("command %s: %w", name, err)
		}
		name = abs
	}
	cmd := exec.Command(name, argv[1:]...)
	cmd.Args[0] = argv[0]
	cmd.Env = env
	cmd.Dir = stdioDir()
	return cmd, nil
}

// stdioTransport runs cmd as a stdio upstream in a process group of its
// own (where the platform has them), and ends the group when the
// connection closes, or when a write to its stdin has not gone through
// within stall (see groupConn.Write). Its output is read through
// stdioLines: a message past maxUpstreamBody fails only the call it
// answered (dropped is told of it), not the connection, and a line that
// is no JSON-RPC message is skipped (stray is given its start).
func stdioTransport(cmd *exec.Cmd, stall time.Duration, dropped func(answered bool), stray func(line []byte), stops *groupStops) mcp.Transport {
	ownGroup(cmd)
	cmd.WaitDelay = stdioWaitDelay
	return groupTransport{cmd: cmd, stall: stall, dropped: dropped, stray: stray, stops: stops}
}

type groupTransport struct {
	cmd     *exec.Cmd
	stall   time.Duration
	dropped func(answered bool)
	stray   func(line []byte)
	stops   *groupStops
}

// groupStops counts the process groups stopGroup signalled and has not
// seen gone, nor killed, yet. The gateway's Close waits for them: the
// process usually exits right after it, and a SIGKILL still to come then
// never comes, leaving what ignored the SIGTERM running, orphaned.
type groupStops struct {
	mu   sync.Mutex
	n    int
	none chan struct{} // closed once n is back to 0
}

func (s *groupStops) add() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n == 0 {
		s.none = make(chan struct{})
	}
	s.n++
}

func (s *groupStops) done() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n--; s.n == 0 {
		close(s.none)
	}
}

// wait returns once no group is being stopped.
func (s *groupStops) wait() {
	s.mu.Lock()
	none := s.none
	n := s.n
	s.mu.Unlock()
	if n > 0 {
		<-none
	}
}

func (t groupTransport) Connect(ctx context.Context) (mcp.Connection, error) {
	stdout, err := t.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stdin, err := t.cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	if err := t.cmd.Start(); err != nil {
		return nil, err
	}
	lines := newStdioLines(stdout, maxUpstreamBody, t.dropped)
	lines.stray = t.stray
	var conn atomic.Pointer[groupConn] // set once connected
	lines.refuse = func(id jsonrpc.ID) {
		if gc := conn.Load(); gc != nil {
			// Not on the reader's goroutine: a write may wait for
			// the program to read its stdin (bounded by Write's stall).
			go gc.Write(context.Background(), &jsonrpc.Response{ID: id, Error: &jsonrpc.Error{
				Code: jsonrpc.CodeInvalidRequest, Message: "gatehouse: " + errRequestTooLarge.Error()}})
		}
	}
	c, err := (&mcp.IOTransport{
		// Closing the connection closes stdin (stdinPipe.Close), not
		// stdout, which Wait closes once the process has exited.
		Reader: io.NopCloser(lines),
		Writer: &stdinPipe{WriteCloser: stdin, cmd: t.cmd},
		// stdioLines passes on no message past maxUpstreamBody; the SDK's
		// bound is above it, for the blank lines it may count with one.
		MaxLineLength: maxUpstreamBody + 64<<10,
	}).Connect(ctx)
	if err != nil {
		return nil, err
	}
	pid := t.cmd.Process.Pid
	gc := &groupConn{Connection: c, pgid: pid, stall: t.stall, stops: t.stops}
	conn.Store(gc)
	// When the leader exits, what it left in its group goes too: a child
	// holding its stdout would otherwise keep the session from seeing the
	// end of it, and the upstream from being restarted, until a ping fails.
	// A child that left the group (setsid, a daemon) is out of its reach
	// and may hold the stdout for ever: the connection is closed too,
	// stdioWaitDelay later, so that the calls in flight fail then and the
	// upstream is started again. The delay lets the reader take what the
	// leader wrote before it exited; normally the output has ended by
	// then, the session with it, and this Close does nothing.
	go onExit(pid, func() {
		stopGroup(pid, stdioGroupGrace, t.stops)
		time.Sleep(stdioWaitDelay)
		gc.Close()
	})
	return gc, nil
}

// stdinPipe is a stdio upstream's stdin. Closing it stops the upstream as
// MCP's stdio transport says a client should (and the SDK's
// CommandTransport does): it closes stdin, waits for the process to exit,
// signals it SIGTERM after stdioTerminate, SIGKILL after as long again.
type stdinPipe struct {
	io.WriteCloser
	cmd *exec.Cmd
}

func (p *stdinPipe) Close() error {
	if err := p.WriteCloser.Close(); err != nil {
		return fmt.Errorf("closing stdin: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- p.cmd.Wait() }()
	wait := func() (error, bool) {
		select {
		case err := <-exited:
			return err, true
		case <-time.After(stdioTerminate):
			return nil, false
		}
	}
	if err, ok := wait(); ok {
		return err
	}
	if p.cmd.Process.Signal(syscall.SIGTERM) == nil {
		if err, ok := wait(); ok {
			return err
		}
	}
	if err := p.cmd.Process.Kill(); err != nil {
		return err
	}
	if err, ok := wait(); ok {
		return err
	}
	return errors.New("the upstream's process did not exit after SIGKILL")
}

// groupConn is the connection to a stdio upstream that leads process
// group pgid.
type groupConn struct {
	mcp.Connection
	pgid  int
	stall time.Duration // how long a write may wait (Write)
	stops *groupStops
	once  sync.Once
	error error
	// mu guards closed: Close has stopped the group (its leader is
	// reaped, and its ID may be reused).
	mu     sync.Mutex
	closed bool
}

// Write passes msg to the program's stdin. Neither the SDK's write nor
// the pipe heeds ctx, and the SDK closes the connection only once no
// request is under way: a program that is alive but no longer reads its
// stdin (wedged, or hostile) would hold a write for ever once the pipe is
// full, and behind it every later one (the calls', past their
// call_timeout, and the pings', which would have told of it), and the
// gateway's Close. A write that has not gone through within c.stall (the
// ping interval; 0: no bound) is taken for that: the program's group is
// stopped, which fails the write and ends the session, and the supervisor
// starts it anew.
func (c *groupConn) Write(ctx context.Context, msg jsonrpc.Message) error {
	if c.stall > 0 {
		t := time.AfterFunc(c.stall, c.stalled)
		defer t.Stop()
	}
	return c.Connection.Write(ctx, msg)
}

// stalled stops the group of a program whose stdin took no write for
// c.stall, unless Close has.
func (c *groupConn) stalled() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		stopGroup(c.pgid, stdioGroupGrace, c.stops)
	}
}

// Close stops the upstream as the SDK does (closes its stdin, waits, then
// signals its process), then ends the rest of its group: SIGTERM at once,
// SIGKILL after stdioGroupGrace to what is left, without waiting for it
// (the gateway's Close does: groupStops).
// Only the first call does (a connection may be closed more than once):
// a later one would signal a group that is gone, whose ID may be reused.
func (c *groupConn) Close() error {
	c.once.Do(func() {
		// Under mu: stalled must not signal the group once it is gone.
		c.mu.Lock()
		defer c.mu.Unlock()
		c.error = c.Connection.Close()
		stopGroup(c.pgid, stdioGroupGrace, c.stops)
		c.closed = true
	})
	return c.error
}
