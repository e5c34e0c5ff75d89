package gateway

// maxCallsPerCaller bounds the tools/call requests one caller (a person
// through an agent, or a client on its own) has running at once, across
// its sessions and batches. An agent that calls tools in parallel stays
// far below it; one caller alone cannot hold every upstream connection,
// goroutine and slip of the gateway. A call beyond it is refused at once,
// politely and on the record (PolicyCallerBusy), before any backend runs.
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
