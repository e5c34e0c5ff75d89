package gateway

import "golang.org/x/sys/unix"

// onExit calls f once process pid (a child of this process) has exited,
// without reaping it: its Wait stays the SDK's, and until then the
// process ID, and so its group's, cannot be reused.
func onExit(pid int, f func()) {
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err == unix.EINTR {
			continue
		}
		if err == nil {
			f()
		}
		return // ECHILD: already reaped, its group stopped by Close
	}
}
