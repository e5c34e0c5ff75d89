package gateway

import "time"

// SetLaneIdle sets how long an idle lane stays open, until the returned
// function restores it.
func SetLaneIdle(d time.Duration) (restore func()) {
	old := laneIdle
	laneIdle = d
	return func() { laneIdle = old }
}

// SetListBounds sets the bounds of one upstream listing, until the
// returned function restores them.
func SetListBounds(n int, d time.Duration) (restore func()) {
	oldN, oldD := maxListed, listTimeout
	maxListed, listTimeout = n, d
	return func() { maxListed, listTimeout = oldN, oldD }
}
