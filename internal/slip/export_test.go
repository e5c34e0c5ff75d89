package slip

// SetMaxOwnSlips sets how many of its own slips a Minter keeps in memory,
// until the returned function restores it.
func SetMaxOwnSlips(n int) (restore func()) {
	old := maxOwnSlips
	maxOwnSlips = n
	return func() { maxOwnSlips = old }
}
