package gateway

// Design note: lanes, one upstream session per caller.
//
// MCP ties a log message, a sampling request or an elicitation from a
// server to no call, only to a session. On one session shared by
// everyone's calls, the gateway can relay them only while every call
// running there is one caller's (upConn.sole); while two people's calls
// run, a log message is dropped and an elicitation refused. So each
// caller (a person through an agent) gets a session of its own with a
// Streamable HTTP upstream, its lane: what arrives on it can only be for
// that caller's calls, and the same rules then decide which one. A stdio
// upstream is one process with one session, so its lanes are processes:
// only when the tenant asks for them (per_caller), each started like the
// gateway's own and ended when its lane closes. The gateway's own session
// (the upConn's) keeps listing tools and hearing of changes; a call goes
// there when it cannot have a lane (a stdio upstream without per_caller,
// an unnamed caller, maxLanes open, or opening one failed lately).
//
// The upstream learns nothing of who a lane is for: it sees one more
// session of the gateway's, with the gateway's own credentials (or one
// more process started with the gateway's environment).

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// maxLanes bounds the sessions one upstream gets besides the gateway's
// own (a variable for tests).
var maxLanes = 64

const (
	// laneConnect bounds how long opening a lane may take; the first call
	// of a caller waits for it.
	laneConnect = 5 * time.Second
	// laneRetry is how long after a lane failed to open calls use the
	// shared session without trying again.
	laneRetry = time.Minute
)

// laneIdleNS is how long a lane with no call stays open, in ns (atomic:
// tests change it while supervisors read it).
var laneIdleNS atomic.Int64

func init() { laneIdleNS.Store(int64(2 * time.Minute)) }

// laneIdle is how long a lane with no call stays open.
func laneIdle() time.Duration { return time.Duration(laneIdleNS.Load()) }

// lanes are an upConn's callers' sessions, guarded by its mu.
type lanes struct {
	byCaller map[string]*upConn
	sweepAt  time.Time // when idle lanes are next looked for
	failedAt time.Time // when a lane last failed to open
	lastUsed time.Time // for a lane: when a call last ended on it
	ready    chan struct{}
	swept    bool // for a lane: taken off its upConn as idle (under its mu)
}

// laneFor returns the upConn a call of caller goes through: the caller's
// lane on c, opened if need be, or c itself.
func (u *upstreams) laneFor(ctx context.Context, c *upConn, caller string) *upConn {
	if (c.cfg.URL == "" && !c.cfg.PerCaller) || caller == "" {
		return c
	}
	// A lane swept as idle between taking it and using it (the
	// supervisor's sweep runs on its own) is closing: take a new one.
	for range 2 {
		if l, swept := u.takeLane(ctx, c, caller); !swept {
			return l
		}
	}
	return c
}

// takeLane is one try of laneFor; swept reports a lane that was swept
// meanwhile.
func (u *upstreams) takeLane(ctx context.Context, c *upConn, caller string) (_ *upConn, swept bool) {
	now := time.Now()
	c.mu.Lock()
	if c.session == nil || c.ctx == nil {
		c.mu.Unlock()
		return c, false
	}
	idle := c.idleLanes(now)
	l, ok := c.byCaller[caller]
	if !ok && now.Sub(c.failedAt) < laneRetry {
		// A lane failed to open a moment ago: a caller without one shares
		// the gateway's session meanwhile. One with a lane keeps it (its
		// session, and what the upstream keeps in it, are its own).
		c.mu.Unlock()
		for _, cs := range idle {
			cs.Close()
		}
		return c, false
	}
	if !ok && len(c.byCaller) < maxLanes {
		l = &upConn{cfg: c.cfg}
		l.ready = make(chan struct{})
		if c.byCaller == nil {
			c.byCaller = map[string]*upConn{}
		}
		c.byCaller[caller] = l
		go u.openLane(c, l, caller)
	}
	c.mu.Unlock()
	for _, cs := range idle {
		cs.Close()
	}
	if l == nil {
		return c, false
	}
	select {
	case <-l.ready:
	case <-ctx.Done():
		return c, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.swept {
		return nil, true
	}
	if l.session == nil {
		return c, false
	}
	l.lastUsed = time.Now() // not now: the lane may have taken a while to open
	return l, false
}

// idleLanes takes the lanes no call used for laneIdle off c, at most
// every few seconds, and returns their sessions, to be closed outside
// c.mu.
func (c *upConn) idleLanes(now time.Time) []*mcp.ClientSession {
	if now.Before(c.sweepAt) {
		return nil
	}
	c.sweepAt = now.Add(laneIdle() / 8)
	var out []*mcp.ClientSession
	for caller, l := range c.byCaller {
		l.mu.Lock()
		running := false
		for f := range l.inflight {
			running = running || (!f.answered && !f.abandoned)
		}
		// Calls answered or given up linger in inflight for what may
		// still come of them; closing the session ends that too.
		if l.session != nil && !running && now.Sub(l.lastUsed) > laneIdle() {
			out = append(out, l.session)
			delete(c.byCaller, caller)
			l.swept = true
		}
		l.mu.Unlock()
	}
	return out
}

// openLane connects lane l of c for caller and keeps it on c until its
// session ends.
func (u *upstreams) openLane(c *upConn, l *upConn, caller string) {
	log := u.g.logger().With("upstream", c.cfg.Name)
	cs, bars, err := u.connect(c.ctx, l, &mcp.ClientOptions{}, log, laneConnect)
	if err == nil {
		// Bounded too: the caller's first call waits for it.
		ctx, cancel := context.WithTimeout(c.ctx, laneConnect)
		if err = sameTools(ctx, c, cs); err == nil {
			enableLogs(ctx, cs, log)
		} else {
			cs.Close()
			bars.close()
		}
		cancel()
	}
	l.mu.Lock()
	if err == nil {
		l.session, l.barriers, l.lastUsed = cs, bars, time.Now()
	}
	l.mu.Unlock()
	close(l.ready)
	if err == nil {
		_ = cs.Wait()
		bars.close()
		l.mu.Lock()
		l.session = nil
		l.mu.Unlock()
	} else {
		log.Warn("gateway: a caller's own upstream session did not open; calls share the gateway's for a while", "err", c.scrub(err))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.failedAt = time.Now()
	}
	if c.byCaller[caller] == l {
		delete(c.byCaller, caller)
	}
}

// sameTools reports, as an error, the tools whose definitions on a lane's
// session cs differ from those on c's own session, which the catalogue
// pinned and checked: a lane must never run a definition the gateway has
// not checked (a server that changes its tools for one session only, or a
// stdio program replaced on disk since c's process started). Calls then
// share c's session while the lane is refused.
func sameTools(ctx context.Context, c *upConn, cs *mcp.ClientSession) error {
	c.mu.Lock()
	want := c.defs
	c.mu.Unlock()
	ts, err := listTools(ctx, cs)
	if err != nil {
		return err
	}
	got := map[string]string{}
	for _, t := range ts {
		if _, h, err := definitionHash(t); err == nil {
			got[t.Name] = h
		}
	}
	var differ []string
	for name, d := range want {
		if got[name] != d.hash {
			differ = append(differ, name)
		}
	}
	if len(differ) > 0 {
		slices.Sort(differ)
		return fmt.Errorf("its tool definitions differ from the gateway's own session's: %s", strings.Join(differ, ", "))
	}
	return nil
}

// takeLanes takes every lane off c: its supervisor is ending, or the
// gateway's own session was made anew (the upstream may have restarted,
// and sessions of before with it). closeLanes closes them.
func (c *upConn) takeLanes() map[string]*upConn {
	c.mu.Lock()
	defer c.mu.Unlock()
	open := c.byCaller
	c.byCaller = nil
	return open
}

func closeLanes(open map[string]*upConn) {
	for _, l := range open {
		<-l.ready
		l.mu.Lock()
		cs := l.session
		l.mu.Unlock()
		if cs != nil {
			cs.Close()
		}
	}
}
