//go:build race

package e2e

// raceEnabled reports whether the test binary runs with the race detector;
// the server under test is then built with -race as well.
const raceEnabled = true
