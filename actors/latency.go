package actors

import (
	"sync/atomic"
	"time"
)

// LatencyBounds are the upper bounds of the latency histograms' buckets:
// from a loopback round trip to a query timeout, a factor of about 2.5
// apart, so that an operator tells a 5 ms peer from a 50 ms one and a
// hedged answer from a timed-out one. The last bucket (+Inf) holds the rest.
var LatencyBounds = []time.Duration{
	time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond,
	10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2500 * time.Millisecond, 5 * time.Second,
	10 * time.Second, 30 * time.Second, time.Minute,
}

// histogram counts durations into LatencyBounds' buckets. Observing is a
// few atomic adds, so the query path and the lookup actors record into it
// without a lock; a snapshot is near-instant, not consistent, like Gauges.
type histogram struct {
	counts [16]atomic.Uint64 // len(LatencyBounds)+1
	sum    atomic.Int64      // nanoseconds
}

func (h *histogram) observe(d time.Duration) {
	i := 0
	for i < len(LatencyBounds) && d > LatencyBounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sum.Add(int64(d))
}

// Histogram is a snapshot of a latency histogram: Counts[i] durations
// were at most Bounds[i] and more than the bound before; the last count,
// one more than Bounds, holds those above every bound.
type Histogram struct {
	Bounds []time.Duration
	Counts []uint64
	Count  uint64
	Sum    time.Duration
}

func (h *histogram) snapshot() Histogram {
	out := Histogram{Bounds: LatencyBounds, Counts: make([]uint64, len(LatencyBounds)+1)}
	for i := range out.Counts {
		out.Counts[i] = h.counts[i].Load()
		out.Count += out.Counts[i]
	}
	out.Sum = time.Duration(h.sum.Load())
	return out
}

// Quantile estimates the q-quantile (0 < q ≤ 1) as the upper bound of the
// bucket where it falls; 0 with no samples, and the last bound when it
// falls above every bound.
func (h Histogram) Quantile(q float64) time.Duration {
	if h.Count == 0 {
		return 0
	}
	rank := uint64(q*float64(h.Count) + 0.5)
	rank = max(rank, 1)
	var seen uint64
	for i, n := range h.Counts {
		seen += n
		if seen >= rank {
			return h.Bounds[min(i, len(h.Bounds)-1)]
		}
	}
	return h.Bounds[len(h.Bounds)-1]
}

// Latencies are the engine's latency histograms.
type Latencies struct {
	// Resolve: from the first presence announcing a key the engine did
	// not know to the moment its waiters were told the verified answer
	// (lookups that found the key already stored are not counted).
	Resolve Histogram
	// Query: disco#info round trips that ended in an answer (honest or
	// not), timeouts excluded: what peers take to answer.
	Query Histogram
}

// latencies is what the runtime records.
type latencies struct {
	resolve, query histogram
}

// Latencies reads the latency histograms.
func (r *Runtime) Latencies() Latencies {
	return Latencies{Resolve: r.d.latency.resolve.snapshot(), Query: r.d.latency.query.snapshot()}
}
