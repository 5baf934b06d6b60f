// Package racecheck sorts the race detector's reports found in a child
// process's stderr: tests run cluster members as separate processes
// (protoactor's remote and cluster code races, see DEPENDENCIES.md), and
// only races that involve this module's code may fail them.
package racecheck

import (
	"regexp"
	"strings"
)

// Split splits the race reports in stderr into those where one of the
// racing accesses is made by this module's code (the top frame of an
// access stack), returned whole, and those made entirely inside
// dependencies, counted.
//
// Lines may carry a prefix naming the process they came from ("cluster/1:
// "), and the lines of processes writing at once interleave: each
// process's lines are read apart, or a frame of one process's report
// would be taken for the top frame of another's.
func Split(stderr string) (ours []string, theirs int) {
	for _, s := range byProcess(stderr) {
		o, t := split(s)
		ours = append(ours, o...)
		theirs += t
	}
	return ours, theirs
}

// processPrefix is the name a line is prefixed with: lower case, as the
// bench names its processes (single, cluster/1, parallel/0), so that the
// race detector's own "WARNING: " is not taken for one.
var processPrefix = regexp.MustCompile(`^([a-z][a-z0-9-]*(?:/[0-9]+)?): `)

// byProcess returns each process's lines, prefixes removed, in the order
// the processes first appear; unprefixed lines are a process of their own.
func byProcess(stderr string) []string {
	var order []string
	lines := map[string][]string{}
	for _, l := range strings.Split(stderr, "\n") {
		name := ""
		if m := processPrefix.FindStringSubmatch(l); m != nil {
			name, l = m[1], l[len(m[0]):]
		}
		if _, ok := lines[name]; !ok {
			order = append(order, name)
		}
		lines[name] = append(lines[name], l)
	}
	out := make([]string, len(order))
	for i, name := range order {
		out[i] = strings.Join(lines[name], "\n")
	}
	return out
}

// split sorts the race reports of one process's stderr.
func split(stderr string) (ours []string, theirs int) {
	parts := strings.Split(stderr, "WARNING: DATA RACE")
	for _, r := range parts[1:] {
		r, _, _ = strings.Cut(r, "==================")
		mine := false
		lines := strings.Split(r, "\n")
		for i, l := range lines {
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
