package bench

import (
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// Pinning binds every thread of the process, later ones included, to the
// i-th allowed CPU; asking for more CPUs than allowed is an error. Run in
// a child process: pinning this one would slow every other test.
func TestPinProcess(t *testing.T) {
	if runtime.NumCPU() < 2 {
		t.Fatalf("needs 2 CPUs, this machine has %d", runtime.NumCPU())
	}
	if err := pinProcess(runtime.NumCPU()); err == nil {
		t.Error("pinning to a CPU beyond those allowed succeeded")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestPinChild$", "-test.v")
	cmd.Env = append(os.Environ(), "CE_PIN_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "--- PASS: TestPinChild") {
		t.Fatalf("the child did not run its test:\n%s", out)
	}
}

// TestPinChild pins itself when run as TestPinProcess's child, and checks
// that a thread started afterwards is pinned too.
func TestPinChild(t *testing.T) {
	if os.Getenv("CE_PIN_CHILD") == "" {
		t.Skip("runs as TestPinProcess's child")
	}
	if err := pinProcess(1); err != nil {
		t.Fatal(err)
	}
	done := make(chan int)
	go func() {
		runtime.LockOSThread() // a thread of its own, maybe a new one
		var set unix.CPUSet
		if err := unix.SchedGetaffinity(0, &set); err != nil {
			t.Error(err)
		}
		done <- set.Count()
	}()
	if n := <-done; n != 1 {
		t.Errorf("a thread runs on %d CPUs after pinning, want 1", n)
	}
}
