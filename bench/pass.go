package bench

import (
	"context"
	"runtime"
	"runtime/metrics"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// sample is one point of a throughput curve.
type sample struct {
	T   float64 `json:"t"`   // seconds since the phase started
	PPS float64 `json:"pps"` // presences per second over the interval ending at T
	// RSS is the resident set at T, RSSFile the part of it mapped from
	// files (the workload window among them), in bytes.
	RSS     int64 `json:"rss"`
	RSSFile int64 `json:"rss_file"`
	// Heap is the memory in live and not yet swept heap objects, HeapGoal
	// the collector's goal, StackBytes the goroutine stacks
	// (runtime/metrics).
	Heap       int64 `json:"heap"`
	HeapGoal   int64 `json:"heap_goal"`
	StackBytes int64 `json:"stacks"`
	// HeapLive is the heap the last collection found live; GoResident
	// the memory the Go runtime holds from the OS and has not given back
	// (its total minus the heap released), resident or not.
	HeapLive   int64 `json:"-"`
	GoResident int64 `json:"-"`
}

var memMetrics = []metrics.Sample{
	{Name: "/memory/classes/heap/objects:bytes"},
	{Name: "/gc/heap/goal:bytes"},
	{Name: "/memory/classes/heap/stacks:bytes"},
	{Name: "/gc/heap/live:bytes"},
	{Name: "/memory/classes/total:bytes"},
	{Name: "/memory/classes/heap/released:bytes"},
}

func memSample(s *sample) {
	m := slices.Clone(memMetrics)
	metrics.Read(m)
	get := func(i int) int64 {
		if m[i].Value.Kind() == metrics.KindUint64 {
			return int64(m[i].Value.Uint64())
		}
		return 0
	}
	s.Heap, s.HeapGoal, s.StackBytes = get(0), get(1), get(2)
	s.HeapLive, s.GoResident = get(3), get(4)-get(5)
}

// chunkFunc processes stanzas from..from+len(stanzas)-1 of the workload;
// t0 is when the chunk was handed to the pipeline. An error stops the pass.
type chunkFunc func(ctx context.Context, stanzas [][]byte, from int, t0 time.Time) error

// feed runs one pass of w through fn: workers goroutines take consecutive
// chunks of batch stanzas. Every sampleEvery it records the throughput,
// reports progress, and drops the stanzas every worker is done with from
// the resident set. It returns when every chunk has been processed.
func feed(ctx context.Context, w *workload, workers, batch int, prog *phaseProgress, fn chunkFunc) ([]sample, int, error) {
	n := w.Len()
	chunks := (n + batch - 1) / batch
	var (
		next      atomic.Int64
		processed atomic.Int64
		done      = make([]atomic.Bool, chunks)
		firstErr  error
		errOnce   sync.Once
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([][]byte, 0, batch)
			for {
				c := int(next.Add(1) - 1)
				if c >= chunks || ctx.Err() != nil {
					return
				}
				from, to := c*batch, min((c+1)*batch, n)
				buf = buf[:0]
				for i := from; i < to; i++ {
					buf = append(buf, w.Stanza(i))
				}
				if err := fn(ctx, buf, from, time.Now()); err != nil {
					errOnce.Do(func() { firstErr = err; cancel() })
					return
				}
				done[c].Store(true)
				processed.Add(int64(to - from))
			}
		}()
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()

	const sampleEvery = 100 * time.Millisecond
	start := time.Now()
	tick := time.NewTicker(sampleEvery)
	defer tick.Stop()
	var samples []sample
	lastT, lastN, watermark, maxG := start, int64(0), 0, 0
	sample := func(now time.Time) {
		maxG = max(maxG, runtime.NumGoroutine())
		cur := processed.Load()
		if dt := now.Sub(lastT).Seconds(); dt > 0 {
			sm := sample{T: now.Sub(start).Seconds(), PPS: float64(cur-lastN) / dt,
				RSS: readStatus("VmRSS"), RSSFile: readStatus("RssFile")}
			memSample(&sm)
			samples = append(samples, sm)
		}
		lastT, lastN = now, cur
		for watermark < chunks && done[watermark].Load() {
			watermark++
		}
		w.releaseTo(min(watermark*batch, n))
		prog.update(cur, now.Sub(start))
	}
	for {
		select {
		case now := <-tick.C:
			sample(now)
		case <-finished:
			sample(time.Now())
			return samples, maxG, firstErr
		}
	}
}

// firstsIn returns the first presences of keys among stanzas from..to-1.
// coldClock is, by key, when the cold pass handed over the chunk holding
// the key's first presence (first) and its first presence by an honest
// announcer (honest), in Unix ns.
type coldClock struct {
	first, honest []atomic.Int64
}

func newColdClock(w *workload) *coldClock {
	n := len(w.Meta.Keys)
	return &coldClock{first: make([]atomic.Int64, n), honest: make([]atomic.Int64, n)}
}

// stamp records the keys whose first presences are among the stanzas
// [from, to) handed over at t, and returns the keys first seen there.
func (c *coldClock) stamp(w *workload, from, to int, t time.Time) []first {
	for _, f := range firstsIn(w.Meta.Honests, from, to) {
		c.honest[f.Key].Store(t.UnixNano())
	}
	fs := firstsIn(w.Meta.Firsts, from, to)
	for _, f := range fs {
		c.first[f.Key].Store(t.UnixNano())
	}
	return fs
}

func firstsIn(fs []first, from, to int) []first {
	i := sort.Search(len(fs), func(i int) bool { return int(fs[i].Index) >= from })
	j := i
	for j < len(fs) && int(fs[j].Index) < to {
		j++
	}
	return fs[i:j]
}

// phaseMeter takes the readings one pass is reported by — CPU time,
// scheduler waits, GC, the peers' queries, the system's counters — at its
// start, and the same at its end (report).
type phaseMeter struct {
	peers  *peers
	before map[string]uint64
	q0     int64
	ms0    runtime.MemStats
	cpu0   rusage
	sched0 *metrics.Float64Histogram
	gor0   uint64
}

func startMeter(peers *peers, counters map[string]uint64) *phaseMeter {
	m := &phaseMeter{peers: peers, before: counters, q0: peers.Queries.Load()}
	runtime.ReadMemStats(&m.ms0)
	m.cpu0 = usage()
	m.sched0 = schedHist()
	m.gor0 = goroutinesCreated()
	return m
}

// report is the pass of n presences that took secs (ingest until the
// last one was applied), counters being the system's counters now.
func (m *phaseMeter) report(name string, n int, secs, ingest time.Duration, counters map[string]uint64, maxG int, samples []sample) phaseReport {
	u := usage()
	sys := u.sys - m.cpu0.sys
	cpu := (u.user - m.cpu0.user + sys).Seconds()
	sched := schedDelta(m.sched0, schedHist())
	var ms1 runtime.MemStats
	runtime.ReadMemStats(&ms1)
	delta := diff(counters, m.before)
	return phaseReport{
		Name: name, Presences: n,
		Seconds: secs.Seconds(), IngestSeconds: ingest.Seconds(),
		PresencesPerSec:    perSec(n, secs.Seconds()),
		CPUSeconds:         cpu,
		PresencesPerCPUSec: perSec(n, cpu),
		SysCPUSeconds:      sys.Seconds(),
		MinorFaults:        u.minflt - m.cpu0.minflt,
		GoroutinesStarted:  goroutinesCreated() - m.gor0,
		Queries:            m.peers.Queries.Load() - m.q0,
		DedupJoins:         int64(delta["dedup_joins"]),
		Sched:              sched,
		MaxGoroutines:      maxG,
		GCCycles:           ms1.NumGC - m.ms0.NumGC,
		GCPauseMs:          float64(ms1.PauseTotalNs-m.ms0.PauseTotalNs) / 1e6,
		Counters:           delta,
		Throughput:         samples,
	}
}
