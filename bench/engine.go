package bench

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/capsengine/capsengine"
	"github.com/capsengine/capsengine/messages"
)

// engineRun drives the engine through its phases.
type engineRun struct {
	o     *Options
	w     *workload
	peers *peers
	dir   string // data directory; "" in memory
	// trusted is the trusted store Options.SeedTrusted filled; "" none.
	trusted string
}

func (o *Options) tuning() capsengine.Tuning {
	t := o.Tuning
	if t.QueryTimeout == 0 {
		t.QueryTimeout = o.QueryTimeout
	}
	// Simulated peers are many announcers behind one process: the
	// per-announcer query rate is not what this benchmark measures.
	if t.AnnouncerRate == 0 {
		t.AnnouncerRate = 1e9
	}
	if t.AnnouncerBurst == 0 {
		t.AnnouncerBurst = 1 << 30
	}
	return t
}

func (e *engineRun) open(ctx context.Context) (*capsengine.Engine, error) {
	cfg := capsengine.Config{Querier: e.peers, Tuning: e.o.tuning(), Logger: e.o.Logger, CacheBytes: e.o.CacheBytes, Cluster: e.o.Cluster,
		TrustedDir: e.trusted}
	if e.dir == "" {
		cfg.InMemory = true
	} else {
		cfg.DataDir = e.dir
	}
	return capsengine.Open(ctx, cfg)
}

// engineIngest feeds chunks to eng; in the cold pass it also waits, on a
// goroutine of its own, for the keys whose first presence the chunk holds
// (every probeEvery-th key).
type engineIngest struct {
	eng  *capsengine.Engine
	w    *workload
	hang time.Duration
	cold bool
	// probeEvery > 1 waits for one key in probeEvery only (by key index),
	// and 0 or 1 for all: see maxWaitProbes.
	probeEvery int
	waits      sync.WaitGroup
	mu         sync.Mutex
	failed     int
	hangs      int
	timings    []time.Duration
	lastDone   time.Time
	clock      *coldClock     // by key: when its first chunks were handed over
	reasons    map[string]int // why first lookups failed
	// settled is closed once every presence is applied and the peers are
	// quiet: a key still missing from the store then will not resolve.
	settled chan struct{}
}

func (ei *engineIngest) chunk(ctx context.Context, stanzas [][]byte, from int, t0 time.Time) error {
	err := ei.eng.IngestRawBatch(ctx, stanzas)

	if err != nil && (errors.Is(err, capsengine.ErrClosed) || ctx.Err() != nil) {
		return err
	}
	// Any other error is a stanza that did not decode: counted, skipped.
	if !ei.cold {
		return nil
	}
	for _, f := range ei.clock.stamp(ei.w, from, from+len(stanzas), t0) {
		if ei.probeEvery > 1 && int(f.Key)%ei.probeEvery != 0 {
			continue
		}
		ei.waits.Add(1)
		go func() {
			defer ei.waits.Done()
			wctx, cancel := context.WithTimeout(context.Background(), ei.hang)
			defer cancel()
			_, err := ei.eng.Wait(wctx, f.JID)
			if errors.Is(err, capsengine.ErrUnknownJID) {
				// The JID went offline before the wait reached its shard
				// (the wait queues behind everything ingested since):
				// watch the store for the key instead.
				err = ei.poll(wctx, f.Key)
			}
			now := time.Now()
			d := now.Sub(t0)
			ei.mu.Lock()
			defer ei.mu.Unlock()
			if now.After(ei.lastDone) {
				ei.lastDone = now
			}
			switch {
			case err == nil:
				ei.timings = append(ei.timings, d)
			case errors.Is(err, context.DeadlineExceeded) && wctx.Err() != nil:
				ei.hangs++
			default:
				ei.failed++
				if ei.reasons == nil {
					ei.reasons = map[string]int{}
				}
				ei.reasons[reason(err)]++
			}
		}()
	}
	return nil
}

// maxWaitProbes bounds the Waits the engine's cold pass makes to time
// wait_latency and catch hangs. Each is a goroutine, a timer and two
// messages through the engine, CPU the baseline does not spend: with a Wait
// per key, the 300,000-document run's 101,483 keys cost the engine 2.7% of
// its cold pass in Wait alone (CPU profile), plus the goroutines' starts.
// Past this many keys a sample of them (every n-th key by index) is waited
// for; resolve_latency, which every key feeds, and the check that every
// resolvable key resolved do not depend on the Waits.
var maxWaitProbes = 10000 // a variable for the test that samples

// probeEvery is the stride of the Wait sample for a workload of n keys.
func probeEvery(n int) int { return max(1, (n+maxWaitProbes-1)/maxWaitProbes) }

// keyClock records when the engine verified each key of a workload, from
// its KeyVerified events: the engine's side of the baseline's onResolve,
// stamped by the engine where it verifies rather than when a goroutine
// waiting on it next gets a CPU.
type keyClock struct {
	w    *workload
	sub  *capsengine.Subscription
	at   []atomic.Int64 // by key: Unix ns of its KeyVerified
	done chan struct{}
}

func watchVerified(eng *capsengine.Engine, w *workload) *keyClock {
	c := &keyClock{w: w, sub: eng.Subscribe(messages.KindKeyVerified, 1<<16),
		at: make([]atomic.Int64, len(w.Meta.Keys)), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for ev := range c.sub.Events() {
			if e, ok := ev.(*messages.KeyVerified); ok {
				if i, ok := w.KeyIndex(e.Key); ok {
					c.at[i].CompareAndSwap(0, e.At.UnixNano())
				}
			}
		}
	}()
	return c
}

// stop ends the subscription and returns the events it lost (their keys
// are left out of the latency, not counted failed).
func (c *keyClock) stop() (lost uint64) {
	c.sub.Close()
	<-c.done
	return c.sub.Dropped()
}

// keyLatencies summarizes the time to each key's verification at (Unix ns
// by key) three ways, and the stream's own share of it:
//   - all: from the key's first presence, over every key seen, a key never
//     verified counting as failed;
//   - honestFirst: the same over the keys whose first announcer answers
//     honestly;
//   - fromHonest: from the key's first presence by an honest announcer,
//     over every resolvable key;
//   - streamWait: over the keys in all, from the key's first presence to
//     its first presence by an honest announcer. No key can verify before
//     that presence is handed over, so each key's time in all is at least
//     its time here, and so is each percentile: streamWait's p99 is the
//     floor of all's p99 that no pipeline could go below in this run.
//
// A key whose first announcer lies, errs or is silent waits for the
// workload's next announcer of it (seconds later, for some): that wait is
// the stream's, and it is the top percent of all. fromHonest leaves it
// out but keeps what the pipeline does once an honest announcer is there:
// its fallback past the failed one, its hedge past a silent one.
func keyLatencies(w *workload, p *peers, c *coldClock, at []atomic.Int64) (all, honestFirst, fromHonest, streamWait latency) {
	honestKey := make([]bool, len(c.first))
	for _, f := range w.Meta.Firsts {
		honestKey[f.Key] = behaviourOf(&p.spec, f.JID) == honest
	}
	var ds, hs, fs, ws []time.Duration
	failed, hfailed, ffailed := 0, 0, 0
	for i := range c.first {
		s, h, e := c.first[i].Load(), c.honest[i].Load(), at[i].Load()
		switch {
		case s == 0:
		case e == 0:
			failed++
			if honestKey[i] {
				hfailed++
			}
			if h != 0 {
				ffailed++
			}
		default:
			d := time.Duration(max(e-s, 0))
			ds = append(ds, d)
			if honestKey[i] {
				hs = append(hs, d)
			}
			if h != 0 {
				fs = append(fs, time.Duration(max(e-h, 0)))
				ws = append(ws, time.Duration(max(h-s, 0)))
			} else {
				// Verified with no honest presence on the clock (a
				// seeded key): the stream made it wait for nothing.
				ws = append(ws, 0)
			}
		}
	}
	return summarize(ds, failed, 0), summarize(hs, hfailed, 0), summarize(fs, ffailed, 0), summarize(ws, failed, 0)
}

// reason names a lookup failure by the engine's sentinel errors, in
// snake_case like every key of the JSON report.
func reason(err error) string {
	for _, e := range []struct {
		err  error
		name string
	}{
		{capsengine.ErrOverloaded, "overloaded"},
		{capsengine.ErrAnnouncersFailed, "announcers_failed"},
		{capsengine.ErrLookupTimeout, "lookup_timeout"},
		{capsengine.ErrRateLimited, "rate_limited"},
		{capsengine.ErrClosed, "closed"},
		{capsengine.ErrUnknownJID, "unknown_jid"},
		{context.DeadlineExceeded, "deadline"},
	} {
		if errors.Is(err, e.err) {
			return e.name
		}
	}
	return "other"
}

// poll waits for key k to appear in the store, for a lookup whose JID is
// gone. It gives up with ErrAnnouncersFailed when the engine reports the
// lookup failed.
func (ei *engineIngest) poll(ctx context.Context, k int32) error {
	key := ei.w.Meta.Keys[k].Key
	st := ei.eng.Storage()
	tick := time.NewTicker(200 * time.Microsecond)
	defer tick.Stop()
	for {
		if _, err := st.Get(key); err == nil {
			return nil
		}
		select {
		case <-tick.C:
		case <-ei.settled:
			if _, err := st.Get(key); err == nil {
				return nil
			}
			return capsengine.ErrAnnouncersFailed
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// run runs the engine's phases and fills rep.
func (e *engineRun) run(ctx context.Context, prog Progress) (rep *systemReport, err error) {
	o := e.o
	rep = &systemReport{Name: "engine", UniqueKeys: e.w.Meta.UniqueKeys, ResolvableKeys: e.w.Meta.Resolvable}
	if !o.InMemory {
		if e.dir, err = os.MkdirTemp(o.tmpDir, "store-"); err != nil {
			return nil, err
		}
	}
	if o.SeedTrusted > 0 {
		e.trusted = e.dir + "-trusted"
		seeded, err := writeSeed(e.trusted, e.peers.ans, o.SeedTrusted)
		if err != nil {
			return nil, err
		}
		rep.seed(e.w.Meta.Keys, seeded)
	}
	w := e.w
	w.releaseAll()
	freeMemory()
	resetPeakRSS()
	heap0 := heapAlloc()

	eng, err := e.open(ctx)
	if err != nil {
		return nil, err
	}
	closed := false
	defer func() {
		if !closed {
			eng.Close(context.Background())
		}
	}()
	pr := &phaseRunner{e: e, eng: eng, rep: rep, total: map[string]uint64{}, prog: prog}
	phase := func(name string, ei *engineIngest) (*phaseReport, error) {
		pr.eng = eng
		return pr.run(ctx, name, ei)
	}

	cold := &engineIngest{eng: eng, w: e.w, hang: o.HangTimeout, cold: true, settled: make(chan struct{}),
		clock: newColdClock(e.w), probeEvery: probeEvery(len(e.w.Meta.Keys))}
	if o.CPUProfilePhase != "warm" {
		if err := o.startCPUProfile(); err != nil {
			return nil, err
		}
	}
	stopTrace, err := o.startTrace()
	if err != nil {
		return nil, err
	}
	clock := watchVerified(eng, e.w)
	_, err = phase("cold", cold)
	stopTrace()
	lost := clock.stop()
	if err != nil {
		return nil, err
	}
	rep.ResolveLatency, rep.HonestFirstLatency, rep.FromHonestLatency, rep.StreamWait = keyLatencies(e.w, e.peers, cold.clock, clock.at)
	rep.ResolveLatency.FailedBy = cold.reasons
	rep.EventsLost = lost
	rep.WaitLatency = summarize(cold.timings, cold.failed, cold.hangs)
	rep.WaitLatency.FailedBy = cold.reasons
	rep.QueryDelay = queryDelay(e.w, e.peers, cold.clock.first)
	rep.Hangs = cold.hangs
	switch o.CPUProfilePhase {
	case "cold":
		o.stopCPUProfile()
	case "warm":
		if err := o.startCPUProfile(); err != nil {
			return nil, err
		}
	}
	if _, err := phase("warm", &engineIngest{eng: eng, w: e.w, settled: make(chan struct{})}); err != nil {
		return nil, err
	}

	// The CPU profile covers the cold and warm passes (or the one asked
	// for), not Close.
	o.stopCPUProfile()

	// Memory, with the table full and every key resolved.
	heap := heapAlloc()
	rep.JIDs = eng.JIDs()
	rep.HeapBytes = int64(heap) - int64(heap0)
	if rep.JIDs > 0 {
		rep.BytesPerJID = float64(rep.HeapBytes) / float64(rep.JIDs)
	}
	if o.MemProfile != "" {
		if err := writeHeapProfile(o.MemProfile); err != nil {
			return nil, err
		}
	}
	st := eng.Storage()
	for _, k := range e.w.Meta.Keys {
		if _, err := st.Get(k.Key); err == nil {
			rep.ResolvedKeys++
		}
	}

	if db := eng.Storage(); db != nil {
		st := db.Stats()
		rep.StoreReads = &storeReads{CacheHits: st.CacheHits, CacheMisses: st.CacheMisses,
			TrustedHits: st.TrustedHits, UserHits: st.UserHits, Misses: st.Misses, Filtered: st.Filtered}
	}
	closeStart := time.Now()
	if err := eng.Close(ctx); err != nil {
		closed = true
		return nil, fmt.Errorf("bench: close engine: %w", err)
	}
	closed = true
	if o.Logger != nil {
		o.Logger.Debug("engine closed", "seconds", time.Since(closeStart).Seconds())
	}
	if e.dir != "" {
		rep.StoreDiskBytes = dirSize(e.dir)
	}

	if o.Restart && e.dir != "" {
		if eng, err = e.open(ctx); err != nil {
			return nil, fmt.Errorf("bench: reopen engine: %w", err)
		}
		closed = false
		if _, err := phase("restart", &engineIngest{eng: eng, w: e.w, settled: make(chan struct{})}); err != nil {
			return nil, err
		}
		closed = true
		if err := eng.Close(ctx); err != nil {
			return nil, fmt.Errorf("bench: close engine: %w", err)
		}
	}
	rep.settle(e.peers, pr.total)
	return rep, nil
}

// phaseRunner runs passes of one workload through an open engine and
// records them in rep; total sums the engine's counters over the passes.
type phaseRunner struct {
	e     *engineRun
	eng   *capsengine.Engine
	rep   *systemReport
	total map[string]uint64
	prog  Progress
}

// run is one pass: the stream through ei, then until every lookup the
// pass started has ended.
func (r *phaseRunner) run(ctx context.Context, name string, ei *engineIngest) (*phaseReport, error) {
	e, eng, rep, total, prog, o := r.e, r.eng, r.rep, r.total, r.prog, r.e.o
	e.w.releaseAll()
	meter := startMeter(e.peers, snakeCounters(eng.Counters()))
	waits0 := eng.Latencies().Waits
	pp := startPhase(prog, "engine "+name, int64(e.w.Len()))
	start := time.Now()
	probe := startProbe(eng, ei.cold)
	samples, maxG, err := feed(ctx, e.w, o.Workers, o.Batch, pp, ei.chunk)
	if ei.cold {
		rep.IngestDelay = probe.stop()
	}
	if err == nil {
		err = eng.Sync(ctx)
	}
	ingest := time.Since(start)
	if err == nil && ei.cold {
		e.peers.idle(ctx, 50*time.Millisecond)
	}
	close(ei.settled)
	ei.waits.Wait()
	// The phase ends when the last presence was applied and the last
	// lookup it started had ended.
	secs := ingest
	if d := ei.lastDone.Sub(start); d > secs {
		secs = d
	}
	pp.finish(e.w.Len(), secs)
	if err != nil {
		return nil, fmt.Errorf("bench: engine %s pass: %w", name, err)
	}
	p := meter.report(name, e.w.Len(), secs, ingest, snakeCounters(eng.Counters()), maxG, samples)
	p.Waits = waitDelta(waits0, eng.Latencies().Waits)
	for k, v := range p.Counters {
		total[k] += v
	}
	rep.Phases = append(rep.Phases, p)
	return &rep.Phases[len(rep.Phases)-1], nil
}

// probe measures how far the ingest shards lag behind the callers: every
// 20 ms it times a Sync, which returns once every shard has applied what
// was queued before it.
type probe struct {
	done chan struct{}
	out  chan []time.Duration
}

func startProbe(eng *capsengine.Engine, on bool) *probe {
	p := &probe{done: make(chan struct{}), out: make(chan []time.Duration, 1)}
	if !on {
		p.out <- nil
		return p
	}
	go func() {
		var ds []time.Duration
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-p.done:
				p.out <- ds
				return
			case <-t.C:
			}
			s := time.Now()
			if eng.Sync(context.Background()) != nil {
				p.out <- ds
				return
			}
			ds = append(ds, time.Since(s))
		}
	}()
	return p
}

func (p *probe) stop() latency {
	close(p.done)
	l := summarize(<-p.out, 0, 0)
	l.CDF = nil
	return l
}

// queryDelay summarizes, over the keys first seen at t0 (Unix ns by key),
// the time until their first disco#info query.
func queryDelay(w *workload, p *peers, t0 []atomic.Int64) latency {
	var ds []time.Duration
	for i := range w.Meta.Keys {
		s := t0[i].Load()
		at, ok := p.firstAskedAt(w.Meta.Keys[i].Answer)
		if s == 0 || !ok {
			continue
		}
		ds = append(ds, at.Sub(time.Unix(0, s)))
	}
	l := summarize(ds, 0, 0)
	l.CDF = nil
	return l
}

func perSec(n int, secs float64) float64 {
	if secs <= 0 {
		return 0
	}
	return float64(n) / secs
}

func diff(after, before map[string]uint64) map[string]uint64 {
	out := maps.Clone(after)
	for k, v := range before {
		out[k] -= v
	}
	return out
}

func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// freeMemory returns what the last system left behind to the OS, so that
// the next one's peak RSS is its own.
func freeMemory() {
	runtime.GC()
	debug.FreeOSMemory()
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	runtime.GC()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
