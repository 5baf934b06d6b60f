package bench

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// soakSlot follows one key from its introduction to its verdict.
type soakSlot struct {
	key        atomic.Int64 // k+1 while the slot follows key k, 0 free
	honest     atomic.Int32 // honest answers given for it
	queries    atomic.Int32 // queries received for it
	resolvable atomic.Bool  // an honest JID announced it
	final      atomic.Bool  // its verdict is in
}

// soakTally keeps the per-key counts of a soak in a ring of fixed size: a
// key's slot is reused once its verdict is in, so the tally's memory does
// not grow with the keys seen. Popular keys live for the whole run and
// have slots of their own.
type soakTally struct {
	ring []soakSlot
	pop  []soakSlot
	mask int64
	// judged: keys below it (popular ones aside) have their verdict.
	judged atomic.Int64

	mu sync.Mutex
	v  soakKeys
}

const soakExamples = 10 // keys named per kind of broken verdict

func newSoakTally(ringKeys int, pop int64) *soakTally {
	n := 1
	for n < ringKeys {
		n <<= 1
	}
	t := &soakTally{ring: make([]soakSlot, n), pop: make([]soakSlot, pop), mask: int64(n - 1)}
	for i := range t.ring {
		t.ring[i].key.Store(0) // fault the pages in now, not as the first keys pass
	}
	for k := range t.pop {
		t.pop[k].key.Store(int64(k) + 1)
	}
	t.judged.Store(pop)
	return t
}

// slot is where key k is followed; nil when its slot follows another key.
func (t *soakTally) slot(k int64) *soakSlot {
	if k < int64(len(t.pop)) {
		return &t.pop[k]
	}
	s := &t.ring[k&t.mask]
	if s.key.Load() != k+1 {
		return nil
	}
	return s
}

// room reports whether key k can be introduced: its slot's previous key
// has its verdict.
func (t *soakTally) room(k int64) bool { return k-t.judged.Load() < int64(len(t.ring)) }

// start begins following key k.
func (t *soakTally) start(k int64) {
	if k < int64(len(t.pop)) {
		return
	}
	s := &t.ring[k&t.mask]
	s.key.Store(0)
	s.honest.Store(0)
	s.queries.Store(0)
	s.resolvable.Store(false)
	s.final.Store(false)
	s.key.Store(k + 1)
}

// announced records an announcer of k; honest ones make it resolvable.
func (t *soakTally) announced(k int64, honest bool) {
	if s := t.slot(k); s != nil && honest {
		s.resolvable.Store(true)
	}
}

func (t *soakTally) queried(k int64) {
	if s := t.slot(k); s != nil {
		s.queries.Add(1)
	}
}

// answered records an honest answer for k. One given after k's verdict
// is a duplicate found late.
func (t *soakTally) answered(k int64) {
	s := t.slot(k)
	t.mu.Lock()
	defer t.mu.Unlock()
	if s == nil {
		t.v.Untracked++
		return
	}
	if n := s.honest.Add(1); n > 1 && s.final.Load() {
		t.v.Duplicates++
		t.example(&t.v.DuplicateExamples, k)
	}
}

// judge gives the verdict of every key below upTo (and, with pop, of the
// popular keys).
func (t *soakTally) judge(upTo int64, pop bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if pop {
		for k := range t.pop {
			t.verdictLocked(int64(k), &t.pop[k])
		}
	}
	for k := t.judged.Load(); k < upTo; k++ {
		if s := t.slot(k); s != nil {
			t.verdictLocked(k, s)
		}
		t.judged.Store(k + 1)
	}
}

func (t *soakTally) verdictLocked(k int64, s *soakSlot) {
	if s.final.Swap(true) {
		return
	}
	t.v.Judged++
	honest := s.honest.Load()
	if s.resolvable.Load() {
		t.v.Resolvable++
		if honest == 0 {
			t.v.Unresolved++
			t.example(&t.v.UnresolvedExamples, k)
		}
	}
	if honest > 0 {
		t.v.Resolved++
	}
	if honest > 1 {
		t.v.Duplicates += int64(honest - 1)
		t.example(&t.v.DuplicateExamples, k)
	}
}

func (t *soakTally) example(list *[]int64, k int64) {
	if len(*list) < soakExamples {
		*list = append(*list, k)
	}
}

func (t *soakTally) keys() soakKeys {
	t.mu.Lock()
	defer t.mu.Unlock()
	v := t.v
	v.UnresolvedExamples = append([]int64(nil), v.UnresolvedExamples...)
	v.DuplicateExamples = append([]int64(nil), v.DuplicateExamples...)
	return v
}

// leastSquares fits y = a + b·x.
func leastSquares(xs, ys []float64) (a, b float64) {
	n := float64(len(xs))
	if n < 2 {
		return 0, 0
	}
	var sx, sy, sxx, sxy float64
	for i := range xs {
		sx += xs[i]
		sy += ys[i]
		sxx += xs[i] * xs[i]
		sxy += xs[i] * ys[i]
	}
	d := n*sxx - sx*sx
	if d == 0 {
		return sy / n, 0
	}
	b = (n*sxy - sx*sy) / d
	return (sy - b*sx) / n, b
}

// The memory rule. After the warm-up (soakWarmupEnd), a gauge's
// least-squares line over the samples must not rise by more than
// soakGrowthLimit of the gauge's mean level over the post-warm-up span,
// nor by more than its floor (for gauges whose level is near 0, where 10%
// is noise). It is judged only when at least soakMinSpan seconds and
// soakMinSamples samples follow the warm-up: a shorter run reports the
// slope without a verdict.
const (
	soakWarmup      = 0.2
	soakGrowthLimit = 0.10
	soakMinSpan     = 30.0
	soakMinSamples  = 10
	// soakFillLives: the warm-up lasts at least this many mean JID lives.
	// The JIDs online reach their level after the longest life (1.5
	// means), and what they hold — rows, pending events, the hot cache's
	// share, the heap goal over it — settles within about as long again:
	// a 45 s soak at the defaults (20 s lives), judged from 9 s, failed
	// on RSS still filling (+512 MiB), while 5- and 10-minute soaks were
	// flat after a minute.
	soakFillLives = 3
)

// soakWarmupEnd is when the memory rule starts judging a soak of run with
// mean JID life life: after the first soakWarmup of the run, and no
// sooner than soakFillLives lives in. A run too short to follow it by
// soakMinSpan has its slopes reported without a verdict.
func soakWarmupEnd(run, life time.Duration) float64 {
	return round3(max(soakWarmup*run.Seconds(), soakFillLives*life.Seconds()))
}

// soakTrendFloors are the growth always tolerated, per judged gauge.
//
// Goroutines are judged without the engine's query workers: that pool
// follows the load (a burst of silent peers holds a worker each, and an
// idle worker stays 10 s) and is bounded by Tuning.MaxQueriesInFlight
// and MaxSlowQueries by construction (actors.TestSlowQueriesBounded);
// that it shrinks again is actors.TestIdleQueryWorkersLeave's business.
// Its level and slope are reported, and every other goroutine must stay
// flat.
var soakTrendFloors = map[string]float64{
	"rss":              16 << 20,
	"live_lookups":     100,
	"other_goroutines": 50,
}

// trend fits the gauge get over the samples after warm-up (t ≥ from).
func trend(name string, samples []soakSample, from float64, get func(*soakSample) float64) soakTrend {
	var xs, ys []float64
	for i := range samples {
		if samples[i].T >= from {
			xs = append(xs, samples[i].T)
			ys = append(ys, get(&samples[i]))
		}
	}
	tr := soakTrend{Name: name, OK: true}
	if len(xs) < 2 {
		return tr
	}
	a, b := leastSquares(xs, ys)
	span := xs[len(xs)-1] - xs[0]
	for _, y := range ys {
		tr.Level += y
	}
	tr.Level /= float64(len(ys))
	tr.From, tr.Start = xs[0], a+b*xs[0]
	tr.SlopePerMin = b * 60
	tr.Growth = b * span
	floor, judged := soakTrendFloors[name]
	tr.Limit = max(soakGrowthLimit*tr.Level, floor)
	tr.Judged = judged && span >= soakMinSpan && len(xs) >= soakMinSamples
	tr.OK = !tr.Judged || tr.Growth <= tr.Limit
	return tr
}

// soakTrends fits every gauge the report follows.
func soakTrends(samples []soakSample, warmupEnd float64) []soakTrend {
	return []soakTrend{
		trend("rss", samples, warmupEnd, func(s *soakSample) float64 { return float64(s.RSS) }),
		trend("live_lookups", samples, warmupEnd, func(s *soakSample) float64 { return float64(s.LiveLookups) }),
		trend("goroutines", samples, warmupEnd, func(s *soakSample) float64 { return float64(s.Goroutines) }),
		trend("query_workers", samples, warmupEnd, func(s *soakSample) float64 { return float64(s.QueryWorkers) }),
		trend("other_goroutines", samples, warmupEnd, func(s *soakSample) float64 { return float64(s.Goroutines) - float64(s.QueryWorkers) }),
		trend("heap", samples, warmupEnd, func(s *soakSample) float64 { return float64(s.Heap) }),
		trend("heap_live", samples, warmupEnd, func(s *soakSample) float64 { return float64(s.HeapLive) }),
		trend("go_resident", samples, warmupEnd, func(s *soakSample) float64 { return float64(s.GoResident) }),
		trend("outside_go", samples, warmupEnd, func(s *soakSample) float64 { return float64(s.OutsideGo) }),
	}
}

// soakByteGauges are the trends counted in bytes.
var soakByteGauges = map[string]bool{"rss": true, "heap": true, "heap_live": true, "go_resident": true, "outside_go": true}

// checkSoak returns one line per broken guarantee of a soak: a resolvable
// key queried twice or never resolved, a hang, a believed liar, lookups
// piling up to Tuning.MaxLookups, or a gauge growing with the keys seen.
func checkSoak(r *SoakReport) []string {
	var out []string
	k := &r.Keys
	if k.Duplicates > 0 {
		out = append(out, fmt.Sprintf("%d honest answers beyond the first for one key (keys %v…): a resolved key was queried again", k.Duplicates, k.DuplicateExamples))
	}
	if k.Unresolved > 0 {
		out = append(out, fmt.Sprintf("%d of %d resolvable keys never got a query an honest announcer answered (keys %v…)", k.Unresolved, k.Resolvable, k.UnresolvedExamples))
	}
	if r.Probes.Hangs > 0 {
		out = append(out, fmt.Sprintf("%d of %d sampled Waits did not return within the lookup timeout (+%s)", r.Probes.Hangs, r.Probes.Waits, soakHangMargin))
	}
	if r.Liars.Accepted > 0 {
		out = append(out, fmt.Sprintf("%d of %d wrong answers believed", r.Liars.Accepted, r.Liars.Answers))
	}
	if max := r.Settings.MaxLookups; max > 0 {
		for _, s := range r.Samples {
			if s.LiveLookups >= int64(max) {
				out = append(out, fmt.Sprintf("live lookups reached Tuning.MaxLookups (%d) at %.0f s: lookups are not ending, new keys are dropped", max, s.T))
				break
			}
		}
	}
	for _, t := range r.Trends {
		if !t.OK {
			out = append(out, fmt.Sprintf("%s grows with the keys seen: %+.4g per minute after warm-up, %+.4g over the run, more than the %.4g allowed (10%% of its level %.4g)",
				t.Name, t.SlopePerMin, t.Growth, t.Limit, t.Level))
		}
	}
	return out
}
