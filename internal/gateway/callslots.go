package gateway

import "fmt"

// maxCallsPerCaller bounds the requests one caller (a person through an
// agent, or a client on its own) has running at once, across its sessions
// and batches: its tools/call requests, and the prompts/get,
// resources/read, completion/complete and resources/subscribe requests
// forwarded to an upstream, each of which holds as much as a tool call (a
// goroutine, an upstream request up to the call timeout, two durable
// records). An agent that calls tools in parallel stays far below it; one
// caller alone cannot hold every upstream connection, goroutine and slip
// of the gateway. A request beyond it is refused at once, politely and on
// the record (PolicyCallerBusy), before any backend runs.
var maxCallsPerCaller = 32

// callSlot takes one of the caller's call slots: busy reports that none
// was free (and nothing was taken). release gives the slot back; call it
// in either case.
func (g *Gateway) callSlot(key string) (busy bool, release func()) {
	g.slotsMu.Lock()
	defer g.slotsMu.Unlock()
	if g.slots == nil {
		g.slots = map[string]int{}
	}
	if g.slots[key] >= maxCallsPerCaller {
		return true, func() {}
	}
	g.slots[key]++
	return false, func() {
		g.slotsMu.Lock()
		defer g.slotsMu.Unlock()
		if g.slots[key]--; g.slots[key] <= 0 {
			delete(g.slots, key)
		}
	}
}

// busyReason is the reason on the record of a request refused for want
// of a free call slot.
func busyReason() string {
	return fmt.Sprintf("%d calls of this caller are running already", maxCallsPerCaller)
}

// callerBusyError answers a prompt, resource or completion request that
// found none of its caller's call slots free, as a tool call is answered
// (callTool).
type callerBusyError struct{}

func (callerBusyError) Error() string {
	return fmt.Sprintf("Too many of your tool calls and requests are running at once (%d). Please wait for one to finish, then try again.", maxCallsPerCaller)
}
