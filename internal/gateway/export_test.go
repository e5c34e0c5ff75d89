package gateway

import "time"

// SetLaneIdle sets how long an idle lane stays open, until the returned
// function restores it.
func SetLaneIdle(d time.Duration) (restore func()) {
	old := laneIdle
	laneIdle = d
	return func() { laneIdle = old }
}
