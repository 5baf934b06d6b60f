//go:build linux && cgo

package arenas

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// childEnv makes the test binary a child that contends for malloc and
// prints how many arenas the C library then has.
const childEnv = "CAPSENGINE_ARENAS_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		var wg sync.WaitGroup
		for range 32 {
			wg.Go(func() {
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				churnMalloc(100_000)
			})
		}
		wg.Wait()
		fmt.Println(mallocArenas())
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// arenasAfterContention runs the child in a fresh process with env and
// returns its arena count.
func arenasAfterContention(t *testing.T, env ...string) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run", "^$")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MALLOC_ARENA_MAX=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(append(cmd.Env, childEnv+"=1"), env...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("child printed %q", out)
	}
	return n
}

// 32 threads contending for malloc get no more than the two arenas the
// package sets at load (glibc alone gives them up to 8 per core), and an
// operator's MALLOC_ARENA_MAX is left to decide.
func TestArenasLimited(t *testing.T) {
	if mallocArenas() < 0 {
		t.Skip("not glibc: no arenas to limit")
	}
	if n := arenasAfterContention(t); n > 2 {
		t.Errorf("%d malloc arenas after 32 threads contended, want at most 2", n)
	}
	if n := arenasAfterContention(t, "MALLOC_ARENA_MAX=8"); n <= 2 {
		t.Errorf("%d malloc arenas with MALLOC_ARENA_MAX=8 after 32 threads contended: the operator's choice was overridden", n)
	}
}
