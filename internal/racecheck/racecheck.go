// Package racecheck sorts the race detector's reports found in a child
// process's stderr: tests run cluster members as separate processes
// (protoactor's remote and cluster code races, see DEPENDENCIES.md), and
// only races that involve this module's code may fail them.
package racecheck

import "strings"

// Split splits the race reports in stderr (whose lines may be prefixed)
// into those where one of the
// racing accesses is made by this module's code (the top frame of an
// access stack), returned whole, and those made entirely inside
// dependencies, counted.
func Split(stderr string) (ours []string, theirs int) {
	parts := strings.Split(stderr, "WARNING: DATA RACE")
	for _, r := range parts[1:] {
		r, _, _ = strings.Cut(r, "==================")
		mine := false
		lines := strings.Split(r, "\n")
		for i, l := range lines {
			// Lines may carry a prefix naming the process they came from.
			isAccess := strings.Contains(l, "Read at ") || strings.Contains(l, "Write at ") ||
				strings.Contains(l, "Previous read at ") || strings.Contains(l, "Previous write at ")
			if isAccess && i+1 < len(lines) && strings.Contains(lines[i+1], "github.com/capsengine/capsengine") {
				mine = true
			}
		}
		if mine {
			ours = append(ours, r)
		} else {
			theirs++
		}
	}
	return ours, theirs
}
