//go:build !linux

package gateway

// onExit does nothing where a child's exit cannot be awaited without
// reaping it: a stdio upstream's leader that exits while a child holds
// its stdout is noticed when a ping fails, and its group stopped then.
func onExit(int, func()) {}
