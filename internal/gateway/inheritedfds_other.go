//go:build !linux

package gateway

// closeInheritedOnExec does nothing outside Linux: there, a stdio upstream
// still gets the descriptors the gateway inherited without close-on-exec.
func closeInheritedOnExec() error { return nil }
