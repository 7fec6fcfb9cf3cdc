//go:build race

package main

// raceEnabled is set when the tests run with the race detector, which
// makes every goroutine several times slower: tests that hold a crowd of
// Pion peers in this process size it down.
const raceEnabled = true
