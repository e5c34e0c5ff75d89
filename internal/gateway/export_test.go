package gateway

import (
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// SetAnswersDelivered sets what runs between a retry's answers reaching
// the upstream and the retry waiting on its flight, until the returned
// function restores it. Set it before the gateway starts.
func SetAnswersDelivered(f func()) (restore func()) {
	old := answersDelivered
	answersDelivered = f
	return func() { answersDelivered = old }
}

// SetLaneIdle sets how long an idle lane stays open, until the returned
// function restores it.
func SetLaneIdle(d time.Duration) (restore func()) {
	old := laneIdleNS.Swap(int64(d))
	return func() { laneIdleNS.Store(old) }
}

// SetMaxLanes sets how many lanes one upstream may have open, until the
// returned function restores it. Set it before the gateway starts.
func SetMaxLanes(n int) (restore func()) {
	old := maxLanes
	maxLanes = n
	return func() { maxLanes = old }
}

// SetListBounds sets the bounds of one upstream listing, until the
// returned function restores them.
func SetListBounds(n int, d time.Duration) (restore func()) {
	oldN, oldD := maxListed, listTimeout
	maxListed, listTimeout = n, d
	return func() { maxListed, listTimeout = oldN, oldD }
}

// SetToolBytes sets the byte bounds of a tool listing and of one tool's
// definition, until the returned function restores them.
func SetToolBytes(all, each int) (restore func()) {
	oldAll, oldEach := maxToolListed, maxToolDefBytes
	maxToolListed, maxToolDefBytes = all, each
	return func() { maxToolListed, maxToolDefBytes = oldAll, oldEach }
}

// SetMaxRelayed sets how many notifications one call may relay, until the
// returned function restores it.
func SetMaxRelayed(n int64) (restore func()) {
	old := maxRelayed
	maxRelayed = n
	return func() { maxRelayed = old }
}

// SetMaxAsked sets how many requests one call may relay to its caller,
// until the returned function restores it.
func SetMaxAsked(n int64) (restore func()) {
	old := maxAsked
	maxAsked = n
	return func() { maxAsked = old }
}

// SchemaChecks is how many arguments were checked against a tool's input
// schema so far.
func SchemaChecks() int64 { return schemaChecks.Load() }

// Tracked reports how many sessions (and listens) the gateway tracks the
// lists of, and how many listens it knows what they take.
func (g *Gateway) Tracked() (views, listens int) {
	g.viewsMu.Lock()
	views = len(g.views)
	g.viewsMu.Unlock()
	g.listenSubsMu.Lock()
	defer g.listenSubsMu.Unlock()
	return views, len(g.listenSubs)
}

// SetLogLevelTimeout sets logLevelTimeout until the returned function
// restores it.
func SetLogLevelTimeout(d time.Duration) (restore func()) {
	old := logLevelTimeout
	logLevelTimeout = d
	return func() { logLevelTimeout = old }
}

// SetUpstreamPing sets how often upstream sessions are pinged, for a
// test to tell what a ping finds from what the gateway sees otherwise.
func SetUpstreamPing(d time.Duration) (restore func()) {
	old := upstreamPing
	upstreamPing = d
	return func() { upstreamPing = old }
}

// EndedReads is how many times the gateway asked the store when a client
// was removed, so far.
func EndedReads() int64 { return endedReads.Load() }

// SetFeaturesRetry sets how long after a failed pinning an upstream's
// prompts and templates are listed and pinned again, until the returned
// function restores it.
func SetFeaturesRetry(d time.Duration) (restore func()) {
	old := featuresRetry
	featuresRetry = d
	return func() { featuresRetry = old }
}

// SetMaxSubscriptions sets how many URIs one session may be subscribed
// to, until the returned function restores it.
func SetMaxSubscriptions(n int) (restore func()) {
	old := maxSubscriptions
	maxSubscriptions = n
	return func() { maxSubscriptions = old }
}

// SetMaxAskBytes sets how large the requests of one call waiting for
// their caller's answer may be together, until the returned function
// restores it.
func SetMaxAskBytes(n int64) (restore func()) {
	old := maxAskBytes
	maxAskBytes = n
	return func() { maxAskBytes = old }
}

// WrapNotify wraps the handler the gateway sends its own list_changed
// with. Call it before any session connects.
func (g *Gateway) WrapNotify(wrap func(mcp.MethodHandler) mcp.MethodHandler) {
	g.notify = wrap(g.notify)
}

// NoticesPending reports how many sessions have list_changed notices
// being sent or waiting to be.
func (g *Gateway) NoticesPending() int {
	g.noticesMu.Lock()
	defer g.noticesMu.Unlock()
	return len(g.notices)
}

// SubHolds reports how many sessions and requests hold the gateway's
// subscription of upstream to uri: an unsubscription under way (endSub)
// holds it until the upstream was asked, or found still wanted.
func (g *Gateway) SubHolds(upstream, uri string) int {
	g.subsMu.Lock()
	defer g.subsMu.Unlock()
	if e := g.subs[subKey{upstream, uri}]; e != nil {
		return e.users
	}
	return 0
}

// SetStreamWriteTimeout sets how long one write to a caller may take,
// until the returned function restores it.
func SetStreamWriteTimeout(d time.Duration) (restore func()) {
	old := streamWriteTimeout
	streamWriteTimeout = d
	return func() { streamWriteTimeout = old }
}

// SetRefusalsPerMinute sets the bound of a caller's refusals the trail
// records in a minute, until the returned function restores it.
func SetRefusalsPerMinute(n int) (restore func()) {
	old := refusalsPerMinute
	refusalsPerMinute = n
	return func() { refusalsPerMinute = old }
}
