//go:build unix

package gateway

import (
	"os/exec"
	"syscall"
	"time"
)

// ownGroup makes cmd the leader of a new process group, whose ID is its
// process ID: what it starts joins the group unless it leaves it.
func ownGroup(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
}

// stopGroup sends SIGTERM to process group pgid, and SIGKILL after grace
// if any of it is left then; stops counts it until then (see groupStops).
// Called once the group's leader has exited: while a member lives (or the
// leader is not reaped) its ID is not reused.
func stopGroup(pgid int, grace time.Duration, stops *groupStops) {
	if syscall.Kill(-pgid, syscall.SIGTERM) != nil {
		return // ESRCH: nothing left of it
	}
	stops.add()
	go func() {
		defer stops.done()
		for end := time.Now().Add(grace); time.Now().Before(end); time.Sleep(groupPoll) {
			if syscall.Kill(-pgid, 0) != nil {
				return // ESRCH: the group is gone
			}
		}
		syscall.Kill(-pgid, syscall.SIGKILL)
	}()
}

// groupPoll is how often stopGroup looks whether a group it signalled is
// gone.
const groupPoll = 50 * time.Millisecond

// stdioDir is the working directory of stdio upstreams: the root, which
// holds nothing of the gateway's and only root may write to.
func stdioDir() string { return "/" }
