package gateway

// SetMaxCallsPerCaller sets maxCallsPerCaller until the returned function
// restores it.
func SetMaxCallsPerCaller(n int) (restore func()) {
	old := maxCallsPerCaller
	maxCallsPerCaller = n
	return func() { maxCallsPerCaller = old }
}
