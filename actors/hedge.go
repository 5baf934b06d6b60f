package actors

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// answerTimes keeps the durations of recent honest answers and derives
// the hedge delay from them: how long a query may go unanswered before
// its lookup asks the next announcer too. Derived from what peers really
// take, an honest peer answering in its usual time is never doubled, and
// a silent one costs a few round trips instead of the query timeout.
type answerTimes struct {
	mu    sync.Mutex
	ring  [512]time.Duration
	n     int // samples written, total
	delay atomic.Int64
	min   time.Duration
	max   time.Duration
}

// hedgeEvery is how many new samples trigger a recomputation of the p99:
// sorting 512 durations per answer would cost more than the answer.
const hedgeEvery = 64

func newAnswerTimes(min, max time.Duration) *answerTimes {
	a := &answerTimes{min: min, max: max}
	a.delay.Store(int64(a.clamp(0)))
	return a
}

// clamp turns a p99 into the hedge delay: 4 × p99, at least min, at most
// max (the query timeout: hedging later than that is the plain fallback).
func (a *answerTimes) clamp(p99 time.Duration) time.Duration {
	return min(max(4*p99, a.min), a.max)
}

// observe records one honest answer's time; a nil answerTimes (hedging
// off) ignores it.
func (a *answerTimes) observe(d time.Duration) {
	if a == nil {
		return
	}
	a.mu.Lock()
	a.ring[a.n%len(a.ring)] = d
	a.n++
	if a.n%hedgeEvery != 0 && a.n > hedgeEvery {
		a.mu.Unlock()
		return
	}
	k := min(a.n, len(a.ring))
	s := slices.Clone(a.ring[:k])
	a.mu.Unlock()
	slices.Sort(s)
	a.delay.Store(int64(a.clamp(s[(k*99)/100])))
}

// hedgeDelay is the current hedge delay.
func (d *core) hedgeDelay() time.Duration {
	if d.answers == nil {
		return d.cfg.QueryTimeout
	}
	return time.Duration(d.answers.delay.Load())
}
