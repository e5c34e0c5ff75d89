package cli

import (
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// serverGCPercent is the garbage collector's target for `serve` and `demo`
// when GOGC is not set. A request's garbage (mostly the MCP SDK's decode
// buffers) dwarfs the live heap (the catalogue and caches, tens of MB), so
// the default of 100 collects far more often than memory needs: 400 cut the
// gateway's CPU per tool call by 14–32 % (BENCHMARKS.md).
const serverGCPercent = 400

// cgroupMemoryMax is where a cgroup v2 container's memory limit is read.
const cgroupMemoryMax = "/sys/fs/cgroup/memory.max"

// tuneGC applies the server's GC defaults. An operator's GOGC or GOMEMLIMIT
// wins: the runtime has read them already, and tuneGC leaves each alone
// when it is set. Without GOMEMLIMIT, a container's memory limit (cgroup
// v2), when there is one, becomes a soft limit at 3/4 of it, so that the
// larger GC target never is what gets the process killed.
func tuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(serverGCPercent)
	}
	if getenv("GOMEMLIMIT") == "" {
		if n, ok := containerMemory(); ok {
			debug.SetMemoryLimit(n / 4 * 3)
		}
	}
}

// containerMemory returns the cgroup v2 memory limit, if one is set.
func containerMemory() (int64, bool) {
	b, err := os.ReadFile(cgroupMemoryMax)
	if err != nil {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || n <= 0 { // "max": no limit
		return 0, false
	}
	return n, true
}
