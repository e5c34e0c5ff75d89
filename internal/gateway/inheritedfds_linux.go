package gateway

import (
	"math"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// closeInheritedOnExec marks every descriptor of the process past stderr
// close-on-exec. Go opens its own files so, but a program inherits every
// descriptor its parent left open without the flag (a service manager's,
// a wrapper's "3<secrets.env"), and os/exec passes each of those on to
// every program it starts: a stdio upstream could read such a file
// through it, also when run as another user. The gateway keeps them
// (nothing of it uses them); the programs it starts no longer get them.
func closeInheritedOnExec() error {
	if err := unix.CloseRange(3, math.MaxUint32, unix.CLOSE_RANGE_CLOEXEC); err == nil {
		return nil
	}
	// Before Linux 5.11: one by one.
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return err
	}
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd < 3 {
			continue
		}
		// EBADF: ReadDir's own descriptor, closed since.
		unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC)
	}
	return nil
}
