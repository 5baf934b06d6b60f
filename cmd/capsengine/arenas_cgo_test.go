//go:build linux && cgo

package main

import (
	"os"
	"runtime"
	"sync"
	"testing"
)

// Threads contending for malloc get no more than the two arenas the
// program sets at load (glibc would give them up to 8 per core), unless
// the operator chose with MALLOC_ARENA_MAX.
func TestMallocArenasLimited(t *testing.T) {
	if os.Getenv("MALLOC_ARENA_MAX") != "" {
		t.Skip("MALLOC_ARENA_MAX is set: the operator's choice applies")
	}
	if mallocArenas() < 0 {
		t.Skip("not glibc: no arenas to limit")
	}
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			churnMalloc(100_000)
		})
	}
	wg.Wait()
	if n := mallocArenas(); n > 2 {
		t.Errorf("%d malloc arenas after 32 threads contended, want at most 2", n)
	}
}
