package bench

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// pinProcess binds every thread of this process to the i-th of the CPUs
// it may run on, and so every thread it will start (a new thread inherits
// its creator's affinity): a member pinned this way has one core to
// itself, whatever the others do. The i-th allowed CPU, not CPU i: in a
// container the allowed CPUs may be numbered 2 and 3.
func pinProcess(i int) error {
	var allowed unix.CPUSet
	if err := unix.SchedGetaffinity(0, &allowed); err != nil {
		return fmt.Errorf("bench: pin: %w", err)
	}
	cpu := -1
	for c, n := 0, 0; c < len(allowed)*64 && cpu < 0; c++ {
		if allowed.IsSet(c) {
			if n == i {
				cpu = c
			}
			n++
		}
	}
	if cpu < 0 {
		return fmt.Errorf("bench: pin: this process may run on %d CPUs, not %d", allowed.Count(), i+1)
	}
	var set unix.CPUSet
	set.Set(cpu)
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return fmt.Errorf("bench: pin to CPU %d: %w", cpu, err)
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		// A thread that exited since the listing is not an error.
		if err := unix.SchedSetaffinity(tid, &set); err != nil && err != unix.ESRCH {
			return fmt.Errorf("bench: pin to CPU %d: %w", cpu, err)
		}
	}
	return nil
}
