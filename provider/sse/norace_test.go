//go:build !race

package sse

// raceEnabled reports whether the race detector is on.
const raceEnabled = false
