package actors

import (
	"sync"
	"testing"
	"testing/synctest"
)

// Every run scheduled runs, idle workers are reused and bounded, and
// close ends them: the synctest bubble fails the test if a goroutine
// outlives it.
func TestWorkerDispatcher(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorkerDispatcher(10, 2)
		var mu sync.Mutex
		ran := 0
		var wg sync.WaitGroup
		// Eight runs at once: each blocks until all have started, so
		// eight workers must exist together.
		gate := make(chan struct{})
		for range 8 {
			wg.Add(1)
			w.Schedule(func() {
				defer wg.Done()
				<-gate
				mu.Lock()
				ran++
				mu.Unlock()
			})
		}
		synctest.Wait()
		close(gate)
		wg.Wait()
		synctest.Wait()
		if ran != 8 {
			t.Fatalf("%d of 8 runs ran", ran)
		}
		if n := w.idle.Load(); n != 2 {
			t.Fatalf("%d idle workers, want maxIdle 2", n)
		}
		// The next runs go to the idle workers.
		for range 2 {
			wg.Add(1)
			w.Schedule(func() { wg.Done() })
		}
		wg.Wait()
		synctest.Wait()
		if n := w.idle.Load(); n != 2 {
			t.Fatalf("%d idle workers after reuse, want 2", n)
		}
		w.close()
		synctest.Wait()
		if n := w.idle.Load(); n != 0 {
			t.Fatalf("%d idle workers after close", n)
		}
		// After close a run still runs.
		done := make(chan struct{})
		w.Schedule(func() { close(done) })
		<-done
	})
}
