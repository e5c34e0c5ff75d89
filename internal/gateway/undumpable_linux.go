//go:build linux

package gateway

import "golang.org/x/sys/unix"

// makeUndumpable marks the process non-dumpable: its /proc/<pid>/environ,
// mem and the like then belong to root, and another process of the same
// user that is not root (a stdio upstream, a third party's program) can no
// longer read the gateway's environment (GATEHOUSE_MASTER_KEY, a database
// URL with its password) or memory there, nor attach a debugger. It also
// turns off core dumps. In-process profiling (pprof) is unaffected, and so
// is a debugger that started the process.
func makeUndumpable() error {
	return unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
}
