package gateway

// MaxSessionsPerCaller is maxSessionsPerCaller, for the tests.
const MaxSessionsPerCaller = maxSessionsPerCaller
