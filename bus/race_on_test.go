//go:build race

package bus_test

// raceEnabled scales the large fan-out tests down: the race detector makes
// each channel operation ten to twenty times slower.
const raceEnabled = true
