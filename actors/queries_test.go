package actors

import (
	"sync"
	"testing"
	"time"

	"github.com/capsengine/capsengine/hashing"
)

// TestIdleQueryWorkersLeave: a burst of slow queries starts a worker
// each; the steady trickle of jobs that follows needs one or two, and
// the others must leave once idle for idleAfter. Waking the longest-idle
// worker for each job (what sync.Cond does) woke every one of them in
// turn, so none ever left: a soak kept 550 for good.
func TestIdleQueryWorkersLeave(t *testing.T) {
	p := newPeers()
	hold := make(chan struct{})
	p.hold = hold
	r := start(t, Config{MaxQueriesInFlight: 64, QueryTimeout: 10 * time.Second}, newMemStore(), p)
	q := r.d.queries
	const idleAfter = 300 * time.Millisecond
	q.mu.Lock()
	q.idleAfter = idleAfter
	q.mu.Unlock()
	workers := func() int { return int(r.Gauges().QueryWorkers) }

	var wg sync.WaitGroup
	job := func(i int) *queryJob {
		d := make([]byte, 20)
		d[0], d[1] = byte(i), byte(i>>8)
		k, err := hashing.NewKey(hashing.XEP0115, hashing.SHA1, d)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		return &queryJob{key: k, a: announcer{jid: "peer@example.org/r", node: "n"},
			done: func(*queryDone) { wg.Done() }, slow: func() {}, stored: func() {}}
	}
	const burst = 40
	for i := range burst {
		q.push(job(i))
	}
	for p.total.Load() < burst {
		time.Sleep(time.Millisecond)
	}
	if n := workers(); n < burst {
		t.Fatalf("%d workers for %d queries held at once", n, burst)
	}
	p.mu.Lock()
	p.hold = nil
	p.mu.Unlock()
	close(hold)
	wg.Wait()

	// One job every 2 ms: each of the burst's workers would be woken every
	// 80 ms in turn, well within idleAfter.
	for end := time.Now().Add(5 * idleAfter); time.Now().Before(end); {
		q.push(job(burst))
		time.Sleep(2 * time.Millisecond)
	}
	wg.Wait()
	if n := workers(); n > burst/4 {
		t.Errorf("%d workers left after a trickle of %v; the burst started %d", n, 5*idleAfter, burst)
	}
	// And with no job at all, none.
	deadline := time.Now().Add(10 * idleAfter)
	for workers() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := workers(); n > 0 {
		t.Errorf("%d workers left after %v with no job", n, 10*idleAfter)
	}
}
