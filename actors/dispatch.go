package actors

import (
	"sync"
	"sync/atomic"
)

// workerDispatcher runs the hot actors' mailboxes (shards, router,
// lookups) on goroutines it keeps, where protoactor's default starts a
// goroutine for every mailbox run. A fresh goroutine starts on a small
// stack, and the shard's store reads and the lookup's verification grow
// it again at every run: in a cold flood that stack growth was 7% of the
// engine's CPU. A worker that finishes a run waits for the next one
// instead, up to maxIdle of them; a run that finds no waiting worker
// starts one, so no mailbox ever waits for another's run to end.
//
// close ends the idle workers; a run scheduled after it still runs (on a
// goroutine of its own, which then exits), so shutdown loses nothing.
type workerDispatcher struct {
	throughput int
	maxIdle    int32
	handoff    chan func()
	stop       chan struct{}
	once       sync.Once
	idle       atomic.Int32
}

func newWorkerDispatcher(throughput, maxIdle int) *workerDispatcher {
	return &workerDispatcher{
		throughput: throughput,
		maxIdle:    int32(maxIdle),
		handoff:    make(chan func()),
		stop:       make(chan struct{}),
	}
}

// Throughput is the number of messages a mailbox run handles before it
// yields (protoactor's Dispatcher).
func (w *workerDispatcher) Throughput() int { return w.throughput }

// Schedule runs fn on an idle worker, or on a new one.
func (w *workerDispatcher) Schedule(fn func()) {
	select {
	case w.handoff <- fn:
	default:
		go w.work(fn)
	}
}

func (w *workerDispatcher) work(fn func()) {
	for {
		fn()
		if w.idle.Add(1) > w.maxIdle {
			w.idle.Add(-1)
			return
		}
		select {
		case fn = <-w.handoff:
			w.idle.Add(-1)
		case <-w.stop:
			w.idle.Add(-1)
			return
		}
	}
}

func (w *workerDispatcher) close() { w.once.Do(func() { close(w.stop) }) }

// withThroughput is w with another mailbox-run length (the router's: see
// Start).
type withThroughput struct {
	*workerDispatcher
	n int
}

func (w withThroughput) Throughput() int { return w.n }
