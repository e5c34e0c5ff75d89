//go:build race

package json

// raceEnabled: the race detector makes sync.Pool drop what is put in it
// at random, so allocation counts say nothing about pooling.
const raceEnabled = true
