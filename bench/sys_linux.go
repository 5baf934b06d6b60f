//go:build linux

package bench

import (
	"fmt"
	"os"
	"syscall"
	"time"
)

// mapFile maps path read-only. The mapping lives outside the Go heap: the
// garbage collector never scans it, and pages dropped with release leave
// the process's resident set (they stay in the page cache).
func mapFile(path string) (data []byte, unmap func() error, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	size := st.Size()
	if size == 0 {
		return nil, nil, fmt.Errorf("bench: %s is empty", path)
	}
	if int64(int(size)) != size {
		return nil, nil, fmt.Errorf("bench: %s is too large to map", path)
	}
	data, err = syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, nil, fmt.Errorf("bench: mmap %s: %w", path, err)
	}
	_ = syscall.Madvise(data, syscall.MADV_SEQUENTIAL)
	return data, func() error { return syscall.Munmap(data) }, nil
}

// release drops b's pages from the resident set; the next read faults
// them back in from the page cache.
func release(b []byte) {
	if len(b) > 0 {
		_ = syscall.Madvise(b, syscall.MADV_DONTNEED)
	}
}

const pageSize = 4096

// cpuTime is the CPU time (user + system) the process has used.
func cpuTime() time.Duration {
	u := usage()
	return u.user + u.sys
}

// usage is what the process has used so far, zero if unknown.
func usage() rusage {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return rusage{}
	}
	return rusage{
		user:   time.Duration(ru.Utime.Nano()),
		sys:    time.Duration(ru.Stime.Nano()),
		minflt: int64(ru.Minflt), // int32 on 32-bit platforms
	}
}
