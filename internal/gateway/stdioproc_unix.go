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
// if any of it is left then. Called once the group's leader has been
// waited for: while a member lives its ID is not reused.
func stopGroup(pgid int, grace time.Duration) {
	if syscall.Kill(-pgid, syscall.SIGTERM) != nil {
		return // ESRCH: nothing left of it
	}
	time.AfterFunc(grace, func() { syscall.Kill(-pgid, syscall.SIGKILL) })
}

// stdioDir is the working directory of stdio upstreams: the root, which
// holds nothing of the gateway's and only root may write to.
func stdioDir() string { return "/" }
