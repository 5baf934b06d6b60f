package hugepage

import (
	"bytes"
	"os"
	"runtime"
	"strconv"
	"testing"
)

// anonHuge is the process's anonymous memory in huge pages, in KiB.
func anonHuge(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/smaps_rollup")
	if err != nil {
		t.Skipf("no smaps_rollup: %v", err)
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if f := bytes.Fields(line); len(f) >= 2 && string(f[0]) == "AnonHugePages:" {
			n, err := strconv.Atoi(string(f[1]))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no AnonHugePages in smaps_rollup")
	return 0
}

// An advised array is backed by huge pages once touched, where the
// kernel grants them on request (its mode "madvise" or "always"; with
// "never" the advice is a no-op, which Advise's callers accept).
func TestAdviseGetsHugePages(t *testing.T) {
	mode, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	if err != nil || bytes.Contains(mode, []byte("[never]")) {
		t.Skipf("transparent huge pages off here (%q, %v)", mode, err)
	}
	before := anonHuge(t)
	s := make([]uint64, 32<<20/8)
	Advise(s)
	for i := 0; i < len(s); i += 512 {
		s[i] = uint64(i)
	}
	after := anonHuge(t)
	runtime.KeepAlive(s)
	if got := after - before; got < Size/1024 {
		t.Fatalf("AnonHugePages grew by %d KiB for a 32 MiB advised array, want ≥ %d", got, Size/1024)
	}
}
