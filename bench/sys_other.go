//go:build !linux

package bench

import (
	"os"
	"time"
)

// mapFile reads path into memory where mmap is not wired up.
func mapFile(path string) ([]byte, func() error, error) {
	b, err := os.ReadFile(path)
	return b, func() error { return nil }, err
}

func release([]byte) {}

const pageSize = 4096

// cpuTime is not measured here.
func cpuTime() time.Duration { return 0 }

func usage() rusage { return rusage{} }
