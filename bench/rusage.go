package bench

import "time"

// rusage is the part of getrusage(2) a phase is reported by. Minor page
// faults are there because on some virtual machines a fault on fresh
// memory costs tens of microseconds of system time (bench/README.md,
// twelfth session): a phase's system CPU and its faults tell that cost
// from the engine's own work.
type rusage struct {
	user, sys time.Duration
	minflt    int64
}
