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

// WaitBounds are the buckets of the wait histograms: how long work sat
// queued before it ran, from a free CPU's microseconds to a backlog's
// fraction of a second.
var WaitBounds = []time.Duration{
	10 * time.Microsecond, 25 * time.Microsecond, 50 * time.Microsecond,
	100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond,
	time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond,
	10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 250 * time.Millisecond, time.Second,
}

// histogram counts durations into its bounds' buckets (LatencyBounds
// unless set). Observing is a few atomic adds, so the query path and the
// actors record into it without a lock; a snapshot is near-instant, not
// consistent, like Gauges.
type histogram struct {
	bounds []time.Duration // at most 15
	counts [16]atomic.Uint64
	sum    atomic.Int64 // nanoseconds
}

func (h *histogram) bucketBounds() []time.Duration {
	if h.bounds == nil {
		return LatencyBounds
	}
	return h.bounds
}

func (h *histogram) observe(d time.Duration) {
	b := h.bucketBounds()
	i := 0
	for i < len(b) && d > b[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sum.Add(int64(d))
}

// since observes the time since t; a zero t (not stamped) is skipped.
func (h *histogram) since(t time.Time) {
	if !t.IsZero() {
		h.observe(time.Since(t))
	}
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
	b := h.bucketBounds()
	out := Histogram{Bounds: b, Counts: make([]uint64, len(b)+1)}
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
	// Waits are how long each kind of work sat queued before it ran, by
	// kind: "ingest" (a batch of presences, from the caller's send to its
	// shard), "route" (a request for an unknown key, from its shard or the
	// first-contact path to the router), "lookup" (the same request, to
	// its lookup actor: routing and any wait for a lookup slot included),
	// "query" (a disco#info job, from its lookup
	// to a query worker) and "answer" (a query's outcome, back to its
	// lookup). First contact is fast when the last three stay short
	// while "ingest" is long.
	Waits map[string]Histogram
}

// latencies is what the runtime records.
type latencies struct {
	resolve, query                             histogram
	ingest, routing, lookup, queued, answering histogram // waits, over WaitBounds
}

func (l *latencies) init() {
	for _, h := range []*histogram{&l.ingest, &l.routing, &l.lookup, &l.queued, &l.answering} {
		h.bounds = WaitBounds
	}
}

// Latencies reads the latency histograms.
func (r *Runtime) Latencies() Latencies {
	l := &r.d.latency
	return Latencies{Resolve: l.resolve.snapshot(), Query: l.query.snapshot(), Waits: map[string]Histogram{
		"ingest": l.ingest.snapshot(), "route": l.routing.snapshot(), "lookup": l.lookup.snapshot(),
		"query": l.queued.snapshot(), "answer": l.answering.snapshot(),
	}}
}
