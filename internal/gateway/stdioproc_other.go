//go:build !unix

package gateway

import (
	"os"
	"os/exec"
	"time"
)

// ownGroup does nothing where there are no process groups: stopping a
// stdio upstream stops the process the gateway started, and its Wait
// still gives up on pipes held by anything that process left behind.
func ownGroup(*exec.Cmd) {}

func stopGroup(int, time.Duration, *groupStops) {}

// stdioDir is the working directory of stdio upstreams: not the
// gateway's.
func stdioDir() string { return os.TempDir() }
