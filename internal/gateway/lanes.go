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
// (the upConn's) keeps listing tools, prompts and resources and hearing of
// changes.
//
// A request holds its lane while it runs; a lane nobody holds is idle,
// and closes after laneIdle. When maxLanes are open, a new caller's lane
// takes the place of the idle one used least recently. A call that still
// cannot have one (none idle, an unnamed caller, or opening one failed
// lately: laneRetry) goes to the gateway's own session on a Streamable
// HTTP upstream, and with a stdio upstream without per_caller every call
// goes there. A per_caller upstream never serves a caller's request on
// the gateway's own process, which would show it what others' calls left
// there: such a tool call is refused (PolicyLanesBusy, PolicyLaneFailed),
// as is a prompt, resource read or completion, which go to the caller's
// lane there too; a resource subscription is refused (resources.go). Its
// tool, prompt and resource lists come from the gateway's own process,
// which no caller's request reaches.
//
// The upstream learns nothing of who a lane is for: it sees one more
// session of the gateway's, with the gateway's own credentials (or one
// more process started with the gateway's environment).

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/tools"
)

// maxLanes bounds the sessions one upstream gets besides the gateway's
// own (a variable for tests).
var maxLanes = 64

const (
	// laneConnect bounds how long opening a lane may take; the first call
	// of a caller waits for it.
	laneConnect = 5 * time.Second
	// After a lane failed to open, no new one is tried for a while: new
	// callers' calls use the shared session meanwhile, or on a per_caller
	// upstream are refused. The while is laneRetryFirst after one failure,
	// doubling with each failure in a row up to laneRetry: a passing
	// failure (a process that could not start this once) keeps new callers
	// out for a second, one that lasts costs the upstream one attempt a
	// minute. A lane that opens starts the count again.
	laneRetryFirst = time.Second
	laneRetry      = time.Minute
)

// laneOpenFailed notes that a lane of c failed to open at now, and how long no
// new one is tried (see laneRetry). Lanes that were opening at once and
// fail together count as one failure: only one that fails after the last
// wait ran out doubles it. Guarded by c.mu.
func (c *lanes) laneOpenFailed(now time.Time) {
	if c.failures > 0 && now.Sub(c.failedAt) < c.retryWait {
		c.failedAt = now // the same failure, seen again
		return
	}
	c.failedAt = now
	c.failures++
	c.retryWait = laneRetry
	if c.failures <= 6 { // laneRetryFirst << 6 is past laneRetry
		c.retryWait = min(laneRetryFirst<<(c.failures-1), laneRetry)
	}
}

// laneOpened notes that a lane of c opened: the upstream opens lanes
// again, and the next failure waits laneRetryFirst. Guarded by c.mu.
func (c *lanes) laneOpened() { c.failures, c.retryWait = 0, 0 }

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
	// failures counts the lanes that failed to open in a row, retryWait
	// how long after failedAt no new one is tried.
	failures  int
	retryWait time.Duration
	lastUsed  time.Time // for a lane: when a request last ended on it
	ready     chan struct{}
	// holds counts, for a lane, the requests that took it and have not
	// ended (guarded by its own mu): a lane held is never closed as idle.
	holds int
}

// laneError is why a request of a caller to a per_caller upstream cannot
// have a lane: it is refused, never run on the gateway's own process,
// where it could read what other callers' requests left. Error is what
// the caller is told; policy and reason are the trail's.
type laneError struct {
	upstream, policy, reason string
	// late, when set, is the request's bound, which passed before the
	// lane opened: a request to an upstream without per_caller is then
	// late (lateLane), not run on the shared session with a bound anew.
	late time.Duration
}

// lateLane returns err, laneFor's for a call of tool to c, as the call's
// timeout when it says the call's lane did not open within its bound and
// c is not per_caller (whose calls without a lane are refused), else err.
func lateLane(c *upConn, err error, tool string) error {
	var lerr *laneError
	if !c.cfg.PerCaller && errors.As(err, &lerr) && lerr.late > 0 {
		return &tools.TimeoutError{Tool: tool, After: lerr.late}
	}
	return err
}

func (e *laneError) Error() string {
	if e.policy == PolicyLanesBusy {
		return fmt.Sprintf("Too many calls are running on %s at once for yours to get an instance of its own. Please wait for one to finish, then try again.", e.upstream)
	}
	return fmt.Sprintf("Sorry, your own instance of %s could not be started. Please try again shortly.", e.upstream)
}

func (c *upConn) laneFailed(format string, args ...any) *laneError {
	return &laneError{upstream: c.cfg.Name, policy: PolicyLaneFailed, reason: fmt.Sprintf(format, args...)}
}

func noRelease() {}

// laneFor returns the upConn a request of caller to c goes through, held
// for the request until release is called: the caller's lane on c, opened
// if need be, or c itself. On a per_caller upstream it never returns c:
// a caller that cannot have a lane gets err (a *laneError) instead. On
// another, a lane that did not open within the request's bound is err
// too (a *laneError with late set: see lateLane).
func (u *upstreams) laneFor(ctx context.Context, c *upConn, caller string) (_ *upConn, release func(), err error) {
	strict := c.cfg.PerCaller
	switch {
	case strict && caller == "":
		return nil, noRelease, c.laneFailed("the caller is unnamed: a process of its own cannot be told whose it is")
	case !strict && (c.cfg.URL == "" || caller == ""):
		return c, noRelease, nil
	}
	l, lerr := u.takeLane(ctx, c, caller)
	switch {
	case l != nil:
		return l, l.release, nil
	case strict:
		return nil, noRelease, lerr
	case lerr.late > 0:
		// Late: on the shared session it would get a bound of its own,
		// and its caller would wait past the call's.
		return nil, noRelease, lerr
	}
	return c, noRelease, nil
}

// takeLane returns caller's lane on c, held, or why there is none. When
// maxLanes are open it closes the least recently used lane nobody holds
// to open the caller's.
func (u *upstreams) takeLane(ctx context.Context, c *upConn, caller string) (*upConn, *laneError) {
	now := time.Now()
	c.mu.Lock()
	// A supervisor that ended (the gateway closing, the upstream taken
	// out of the tenant) leaves its session in place, and has taken its
	// lanes already (takeLanes): a lane opened now would start a process
	// or session that nothing closes or waits for. Looked at under c.mu,
	// which takeLanes takes after c.ctx ended.
	if c.session == nil || c.ctx == nil || c.ctx.Err() != nil {
		c.mu.Unlock()
		return nil, c.laneFailed("the upstream is not connected")
	}
	closing := c.idleLanes(now)
	l, ok := c.byCaller[caller]
	if ok && l.ended() {
		ok = false // on its way off c: the caller gets a new one
		delete(c.byCaller, caller)
	}
	var refused *laneError
	switch {
	case ok:
		// A caller with a lane keeps it, also when another's failed to
		// open (its session, and what the upstream keeps in it, are its
		// own).
	case now.Sub(c.failedAt) < c.retryWait:
		// A lane failed to open a moment ago: none is tried meanwhile.
		refused = c.laneFailed("a process of its own is not tried for %v after %d failed to open in a row (the last %v ago)",
			c.retryWait, c.failures, now.Sub(c.failedAt).Round(time.Millisecond))
	case len(c.byCaller) >= maxLanes:
		if cs, ok := c.evictIdle(); ok {
			closing = append(closing, cs)
		} else {
			refused = &laneError{upstream: c.cfg.Name, policy: PolicyLanesBusy,
				reason: fmt.Sprintf("all %d sessions of callers of their own are in use, none idle", maxLanes)}
		}
	}
	if refused == nil && !ok {
		l = &upConn{cfg: c.cfg, current: c.current}
		l.ready = make(chan struct{})
		if c.byCaller == nil {
			c.byCaller = map[string]*upConn{}
		}
		c.byCaller[caller] = l
		go u.openLane(c, l, caller)
	}
	if refused == nil {
		// Under c.mu, where lanes are closed as idle: held from here on.
		l.mu.Lock()
		l.holds++
		l.mu.Unlock()
	}
	c.mu.Unlock()
	// Not waited for: a program slow to stop (one that does not exit when
	// its stdin closes takes seconds) must not hold this caller's request.
	u.closeBehind(closing)
	if refused != nil {
		return nil, refused
	}
	// Within the request's bound, as waiting for the upstream's tools to
	// be listed is (served): an upstream slow to open sessions holds the
	// caller no longer than the request itself could. The lane goes on
	// opening, for the caller's next request.
	limit := c.callLimit()
	bound := time.NewTimer(limit)
	defer bound.Stop()
	select {
	case <-l.ready:
	case <-ctx.Done():
		l.release()
		return nil, c.laneFailed("the caller stopped waiting while its own session opened")
	case <-bound.C:
		l.release()
		lerr := c.laneFailed("its own session did not open within %v, the call's bound", limit)
		lerr.late = limit
		return nil, lerr
	}
	l.mu.Lock()
	cs, why := l.session, l.lastErr
	if cs != nil {
		l.lastUsed = time.Now() // not now: the lane may have taken a while to open
	}
	l.mu.Unlock()
	if cs == nil {
		l.release()
		if why == "" {
			why = "it ended"
		}
		return nil, c.laneFailed("its own session did not open: %s", why)
	}
	return l, nil
}

// ended reports whether lane l opened and its session has ended since.
func (l *upConn) ended() bool {
	select {
	case <-l.ready:
	default:
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.session == nil && l.lastErr == ""
}

// release ends a hold of lane l (taken by takeLane).
func (l *upConn) release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.holds--
	l.lastUsed = time.Now()
}

// idle reports whether lane l may be closed: open, held by no request,
// and running no call (calls answered or given up linger in inflight for
// what may still come of them; closing the session ends that too).
// Under l.mu.
func (l *upConn) idle() bool {
	if l.session == nil || l.holds > 0 {
		return false
	}
	for f := range l.inflight {
		if !f.answered && !f.abandoned {
			return false
		}
	}
	return true
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
		if l.idle() && now.Sub(l.lastUsed) > laneIdle() {
			out = append(out, l.session)
			delete(c.byCaller, caller)
		}
		l.mu.Unlock()
	}
	return out
}

// evictIdle takes off c the idle lane used least recently, to make room
// for another caller's, and returns its session, to be closed outside
// c.mu; ok is false when no lane is idle. Under c.mu.
func (c *upConn) evictIdle() (_ *mcp.ClientSession, ok bool) {
	var (
		victim string
		cs     *mcp.ClientSession
		oldest time.Time
	)
	for caller, l := range c.byCaller {
		l.mu.Lock()
		if l.idle() && (!ok || l.lastUsed.Before(oldest)) {
			victim, cs, oldest, ok = caller, l.session, l.lastUsed, true
		}
		l.mu.Unlock()
	}
	if ok {
		delete(c.byCaller, victim)
	}
	return cs, ok
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
			enableLogs(ctx, l, cs, log)
		} else {
			cs.Close()
			bars.close()
		}
		cancel()
	}
	l.mu.Lock()
	if err == nil {
		l.session, l.barriers, l.lastUsed = cs, bars, time.Now()
	} else {
		l.lastErr = l.logErr(err)
	}
	l.mu.Unlock()
	// Noted before the lane's waiters hear of it: one refused now and
	// asking again at once finds the wait in force.
	c.mu.Lock()
	if err == nil {
		c.laneOpened()
	} else {
		c.laneOpenFailed(time.Now())
	}
	c.mu.Unlock()
	close(l.ready)
	if err == nil {
		_ = cs.Wait()
		bars.close()
		l.mu.Lock()
		l.session = nil
		l.mu.Unlock()
	} else if c.cfg.PerCaller {
		log.Warn("gateway: a caller's own upstream process did not open; its calls, and new callers', are refused for a while", "err", l.logErr(err))
	} else {
		log.Warn("gateway: a caller's own upstream session did not open; calls share the gateway's for a while", "err", l.logErr(err))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byCaller[caller] == l {
		delete(c.byCaller, caller)
	}
}

// sameTools reports, as an error, the tools whose definitions on a lane's
// session cs differ from those on c's own session, which the catalogue
// pinned and checked: a lane must never run a definition the gateway has
// not checked (a server that changes its tools for one session only, or a
// stdio program replaced on disk since c's process started). Calls then
// share c's session while the lane is refused (on a per_caller upstream:
// calls are refused).
func sameTools(ctx context.Context, c *upConn, cs *mcp.ClientSession) error {
	// A listing of c's tools under way first: its definitions are those
	// the lane must serve.
	if err := c.awaitListing(ctx); err != nil {
		return err
	}
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

// closeLanes closes the lanes open all at once, and returns when all are
// closed: in turn, stopping many processes slow to stop would take as
// many times as long (a gateway closing could take minutes).
func closeLanes(open map[string]*upConn) {
	var wg sync.WaitGroup
	for _, l := range open {
		wg.Go(func() {
			<-l.ready
			l.mu.Lock()
			cs := l.session
			l.mu.Unlock()
			if cs != nil {
				cs.Close()
			}
		})
	}
	wg.Wait()
}

// closeSessions closes sessions all at once, and returns when all are
// closed.
func closeSessions(sessions []*mcp.ClientSession) {
	var wg sync.WaitGroup
	for _, cs := range sessions {
		wg.Go(func() { cs.Close() })
	}
	wg.Wait()
}

// closeBehind closes the lanes' sessions taken off their upConn (idle, or
// making room for another caller's) without waiting for them; closeAll
// waits for them, so that no process outlives the gateway. Once closeAll
// has begun, they are closed before closeBehind returns.
func (u *upstreams) closeBehind(sessions []*mcp.ClientSession) {
	if len(sessions) == 0 {
		return
	}
	u.mu.Lock()
	if u.ctx.Err() != nil {
		u.mu.Unlock()
		closeSessions(sessions)
		return
	}
	u.behind.Add(1)
	u.mu.Unlock()
	go func() {
		defer u.behind.Done()
		closeSessions(sessions)
	}()
}
