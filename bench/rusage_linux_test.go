package bench

import (
	"sync"
	"syscall"
	"testing"
)

// A phase's report counts the goroutines it started, the page faults of
// the fresh memory it touched, and the kernel's part of its CPU.
func TestPhaseMeterCountsFaultsAndGoroutines(t *testing.T) {
	m := startMeter(&peers{}, map[string]uint64{})
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go wg.Done()
	}
	wg.Wait()
	const size = 16 << 20
	mem, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(mem)
	// No huge pages for this mapping: one fault per page touched.
	_ = syscall.Madvise(mem, syscall.MADV_NOHUGEPAGE)
	for i := 0; i < size; i += pageSize {
		mem[i] = 1
	}
	p := m.report("cold", 1, 1, 1, map[string]uint64{}, 0, nil)
	if p.GoroutinesStarted < 50 {
		t.Errorf("%d goroutines started, want ≥ 50", p.GoroutinesStarted)
	}
	if p.MinorFaults < size/pageSize/2 {
		t.Errorf("%d minor faults for %d fresh pages touched", p.MinorFaults, size/pageSize)
	}
	if p.SysCPUSeconds <= 0 || p.SysCPUSeconds > p.CPUSeconds {
		t.Errorf("kernel CPU %.4f s of %.4f s in all", p.SysCPUSeconds, p.CPUSeconds)
	}
}
