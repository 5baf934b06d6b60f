package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/capsengine/capsengine"
	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/internal/units"
	"github.com/capsengine/capsengine/messages"
)

// SoakOptions shape a soak (Options.Soak): a stream that keeps introducing
// new keys and new JIDs and retiring old ones for Duration, far past
// Tuning.MaxLookups, the hot cache and any JID table size.
type SoakOptions struct {
	Duration time.Duration
	// KeysPerSec paces the stream: new keys per second (and with them
	// JIDsPerKey × as many new JIDs). 0 feeds it as fast as the engine
	// takes it.
	KeysPerSec float64
	JIDsPerKey float64       // new JIDs per new key, popular-key JIDs included; default 2.5
	Spread     time.Duration // a key's announcers log in within this of its first; default 2s
	JIDLife    time.Duration // mean time a JID stays online; default 20s
	PopKeys    int           // long-lived popular keys; default 256
	PopShare   float64       // share of new JIDs announcing a popular key; default 0.1
	// SampleEvery is the sampling period (default 1s); ProbeEvery makes
	// every ProbeEvery-th key's first announcer waited for (default 64).
	SampleEvery time.Duration
	ProbeEvery  int
	// RingKeys bounds the keys followed at once, from introduction to
	// verdict (default 1<<20); the stream waits when the ring is full.
	RingKeys int
}

// DefaultSoakOptions are the defaults of "capsengine bench --soak D": at
// 7,000 new keys and 17,500 new JIDs a second, 5 minutes introduce 2.1
// million keys and 5.25 million JIDs.
func DefaultSoakOptions() SoakOptions {
	return SoakOptions{KeysPerSec: 7000, JIDsPerKey: 2.5, Spread: 2 * time.Second, JIDLife: 20 * time.Second,
		PopKeys: 256, PopShare: 0.1, SampleEvery: time.Second, ProbeEvery: 64, RingKeys: 1 << 20}
}

func (so *SoakOptions) setDefaults() {
	d := DefaultSoakOptions()
	if so.JIDsPerKey <= 0 {
		so.JIDsPerKey = d.JIDsPerKey
	}
	if so.Spread <= 0 {
		so.Spread = d.Spread
	}
	if so.JIDLife <= 0 {
		so.JIDLife = d.JIDLife
	}
	if so.PopKeys < 0 {
		so.PopKeys = 0
	}
	if so.PopShare < 0 || so.PopShare >= 1 {
		so.PopShare = d.PopShare
	}
	if so.SampleEvery <= 0 {
		so.SampleEvery = d.SampleEvery
	}
	if so.ProbeEvery <= 0 {
		so.ProbeEvery = d.ProbeEvery
	}
	if so.RingKeys <= 0 {
		so.RingKeys = d.RingKeys
	}
}

// shape turns durations into ticks (keys) at the pace, or at the default
// pace when the stream is not paced.
func (so SoakOptions) shape(seed uint64) soakShape {
	rate := so.KeysPerSec
	if rate <= 0 {
		rate = DefaultSoakOptions().KeysPerSec
	}
	return soakShape{seed: seed, jidsPerKey: so.JIDsPerKey, popShare: so.PopShare, pop: int64(so.PopKeys),
		spread: int64(rate * so.Spread.Seconds()), life: int64(rate * so.JIDLife.Seconds())}
}

// soakHangMargin is added to the lookup timeout (and one query timeout)
// before a sampled Wait counts as a hang: the scheduling slack of a loaded
// machine.
const soakHangMargin = 2 * time.Second

// soakFailureCounters are the engine counters sampled as failures by
// cause.
var soakFailureCounters = []string{"failed", "timeouts", "query_errors", "mismatches", "rejected",
	"drop_lookups", "drop_notify", "drop_announce", "drop_bad", "drop_rate", "store_errors"}

// soakPeers answer the soak's queries: the document of the key named in
// the node, with the behaviour and latency of the asked JID.
type soakPeers struct {
	spec  PeerSpec
	seed  uint64
	tally *soakTally

	Queries, Honest, LiarAnswers, ErrorAnswers, Silences, Unknown, Expired, InFlight atomic.Int64
}

func (p *soakPeers) QueryInfo(ctx context.Context, jid, node string) (*hashing.Info, error) {
	p.Queries.Add(1)
	p.InFlight.Add(1)
	defer p.InFlight.Add(-1)
	k, known := soakKeyOfNode(node)
	if known {
		p.tally.queried(k)
	}
	b := behaviourOf(&p.spec, jid)
	if b == silent {
		p.Silences.Add(1)
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if d := p.spec.latency(jid, node); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			p.Expired.Add(1)
			return nil, ctx.Err()
		}
	}
	if !known {
		p.Unknown.Add(1)
		return nil, errItemNotFound
	}
	info, _ := soakDoc(p.seed, k)
	info.Node = node
	switch b {
	case iqError:
		p.ErrorAnswers.Add(1)
		return nil, errServiceUnavailable
	case liar:
		p.LiarAnswers.Add(1)
		return lie(info, node, hashJID(p.spec.Seed^0x11e, jid)), nil
	}
	p.Honest.Add(1)
	p.tally.answered(k)
	return info, nil
}

// soakRun is one soak in progress.
type soakRun struct {
	o      *Options
	so     SoakOptions
	eng    *capsengine.Engine
	peers  *soakPeers
	tally  *soakTally
	stream *soakStream
	start  time.Time

	presences, unavailable atomic.Int64
	keys, jids             atomic.Int64
	events                 atomic.Int64
	sub                    *capsengine.Subscription
	stalls                 atomic.Int64 // times the stream waited for verdicts to free the ring

	cpMu        sync.Mutex
	checkpoints []soakCheckpoint

	probes soakProbes
}

// soakCheckpoint: tick was handed to the engine at t.
type soakCheckpoint struct {
	tick int64
	t    time.Time
}

// soakProbes are the sampled Waits.
type soakProbes struct {
	wg       sync.WaitGroup
	mu       sync.Mutex
	waits    int
	ok       int
	gone     int
	hangs    int
	failedBy map[string]int
	hist     logHist
}

// Soak runs the engine under a stream that never stops introducing new
// keys and JIDs, for o.Soak.Duration, sampling its levels, and reports
// whether every guarantee held (SoakReport.OK).
func Soak(ctx context.Context, o Options) (*SoakReport, error) {
	o.setDefaults()
	o.Soak.setDefaults()
	if o.Soak.Duration <= 0 {
		return nil, errors.New("bench: the soak needs a positive duration")
	}
	if o.InMemory {
		return nil, errors.New("bench: a soak keeps every verified key: its store must be on disk, not in memory")
	}
	if err := o.Peers.validate(); err != nil {
		return nil, err
	}
	dir, cleanup, err := o.workDir("capsengine-soak-")
	if err != nil {
		return nil, err
	}
	defer cleanup()

	so := o.Soak
	sh := so.shape(o.Spec.Seed)
	tally := newSoakTally(so.RingKeys, sh.pop)
	r := &soakRun{o: &o, so: so, tally: tally, stream: newSoakStream(sh),
		peers: &soakPeers{spec: o.Peers, seed: o.Spec.Seed, tally: tally}}
	r.probes.failedBy = map[string]int{}
	tuning := o.tuning()
	cfg := capsengine.Config{Querier: r.peers, Tuning: tuning, Logger: o.Logger, CacheBytes: o.CacheBytes, DataDir: dir}
	if r.eng, err = capsengine.Open(ctx, cfg); err != nil {
		return nil, err
	}
	closed := false
	defer func() {
		if !closed {
			r.eng.Close(context.Background())
		}
	}()
	r.sub = r.eng.Subscribe(messages.AllKinds, 1<<14)
	subDone := make(chan struct{})
	go r.drainEvents(subDone)

	rep := &SoakReport{Version: 1, Command: o.Command, Machine: machine(), Settings: r.settings()}
	freeMemory()
	r.start = time.Now()
	var samples []soakSample
	sampleStop := make(chan struct{})
	sampleDone := make(chan struct{})
	go func() {
		defer close(sampleDone)
		tick := time.NewTicker(so.SampleEvery)
		defer tick.Stop()
		next := 10 * time.Second
		for {
			select {
			case <-sampleStop:
				return
			case <-tick.C:
			}
			s := r.sample()
			samples = append(samples, s)
			r.judgeDue()
			if el := time.Since(r.start); el >= next {
				next += 10 * time.Second
				note(o.Progress, "soak %.0f s: %s keys, %s JIDs (%s online), live lookups %s, queries in flight %d, goroutines %d, RSS %s",
					el.Seconds(), count(int(s.Keys)), count(int(s.JIDs)), count(int(s.JIDsOnline)), count(int(s.LiveLookups)),
					s.QueriesInFlight, s.Goroutines, units.Bytes(s.RSS))
			}
		}
	}()

	note(o.Progress, "soak for %s: %s new keys/s, %.1f new JIDs per key, seed %d", so.Duration, paceText(so.KeysPerSec), so.JIDsPerKey, o.Spec.Seed)
	feedErr := r.feed(ctx)
	fed := time.Since(r.start)

	// Let the engine finish what the stream started, then judge every key.
	if feedErr == nil {
		feedErr = r.eng.Sync(ctx)
	}
	if feedErr == nil {
		r.quiesce(ctx)
		r.probes.wg.Wait()
	}
	close(sampleStop)
	<-sampleDone
	samples = append(samples, r.sample())
	tally.judge(r.stream.Ticks(), true)
	r.keys.Store(r.stream.Ticks())
	r.jids.Store(r.stream.JIDs())
	if feedErr != nil && ctx.Err() == nil {
		return nil, feedErr
	}

	rep.Seconds = fed.Seconds()
	rep.Presences = r.presences.Load()
	rep.Unavailable = r.unavailable.Load()
	rep.JIDs = r.jids.Load()
	rep.KeysPerSec = perSec(int(r.keys.Load()), rep.Seconds)
	rep.JIDsPerSec = perSec(int(rep.JIDs), rep.Seconds)
	rep.PresencesPerSec = perSec(int(rep.Presences), rep.Seconds)
	rep.RingStalls = r.stalls.Load()
	rep.Samples = samples
	rep.Keys = tally.keys()
	rep.Keys.Introduced = r.keys.Load()
	p := r.peers
	rep.Queries = soakQueries{Total: p.Queries.Load(), Honest: p.Honest.Load(), Liars: p.LiarAnswers.Load(),
		Errors: p.ErrorAnswers.Load(), Silent: p.Silences.Load(), Unknown: p.Unknown.Load(), Expired: p.Expired.Load()}
	if rep.Keys.Introduced > 0 {
		rep.Queries.PerNewKey = round3(float64(rep.Queries.Total) / float64(rep.Keys.Introduced))
	}
	rep.Counters = snakeCounters(r.eng.Counters())
	caught := int64(rep.Counters["mismatches"] + rep.Counters["rejected"])
	rep.Liars = liarReport{Answers: p.LiarAnswers.Load(), Caught: caught, Accepted: max(p.LiarAnswers.Load()-caught, 0)}
	rep.Liars.AllCaught = rep.Liars.Accepted == 0
	rep.Probes = r.probes.report()
	rep.Events = soakEvents{Received: r.events.Load(), Dropped: int64(r.sub.Dropped())}
	rep.WarmupSeconds = soakWarmupEnd(time.Duration(rep.Seconds*float64(time.Second)), r.so.JIDLife)
	rep.Trends = soakTrends(samples, rep.WarmupSeconds)

	r.sub.Close()
	close(subDone)
	closed = true
	if err := r.eng.Close(ctx); err != nil {
		return nil, fmt.Errorf("bench: close engine: %w", err)
	}
	rep.StoreDiskBytes = dirSize(dir)
	rep.Violations = checkSoak(rep)
	rep.OK = len(rep.Violations) == 0 && ctx.Err() == nil
	if ctx.Err() != nil {
		rep.Violations = append(rep.Violations, "interrupted before the end: the verdict is incomplete")
	}
	return rep, nil
}

func paceText(keysPerSec float64) string {
	if keysPerSec <= 0 {
		return "unpaced"
	}
	return count(int(keysPerSec))
}

func (r *soakRun) settings() soakSettings {
	t := r.o.tuning()
	o := r.o
	st := soakSettings{DurationSeconds: r.so.Duration.Seconds(), KeysPerSec: r.so.KeysPerSec, JIDsPerKey: r.so.JIDsPerKey,
		SpreadSeconds: r.so.Spread.Seconds(), JIDLifeSeconds: r.so.JIDLife.Seconds(), PopKeys: r.so.PopKeys, PopShare: r.so.PopShare,
		Seed: o.Spec.Seed, LatencyMs: float64(o.Peers.Latency) / 1e6, Jitter: o.Peers.Jitter,
		Liars: o.Peers.Liars, Errors: o.Peers.Errors, Timeouts: o.Peers.Timeouts,
		QueryTimeoutMs: float64(t.QueryTimeout) / 1e6, LookupTimeoutMs: float64(r.lookupTimeout()) / 1e6,
		MaxLookups: t.MaxLookups, CacheBytes: o.CacheBytes, Batch: o.Batch}
	if st.MaxLookups <= 0 {
		st.MaxLookups = 100_000 // actors.Config's default
	}
	if st.CacheBytes == 0 {
		st.CacheBytes = 64 << 20 // capsengine.Config's default
	}
	return st
}

// lookupTimeout is the engine's Tuning.LookupTimeout, its default when
// unset.
func (r *soakRun) lookupTimeout() time.Duration {
	if d := r.o.Tuning.LookupTimeout; d > 0 {
		return d
	}
	return 60 * time.Second
}

// grace is how long after a key's last announcer logged in its verdict
// waits: a lookup it started may run for the lookup timeout.
func (r *soakRun) grace() time.Duration {
	return r.lookupTimeout() + r.o.tuning().QueryTimeout + soakHangMargin
}

// feed streams the soak into the engine until the duration is over.
func (r *soakRun) feed(ctx context.Context) error {
	o, so, s := r.o, r.so, r.stream
	batch := make([][]byte, 0, o.Batch)
	arena := make([]byte, 0, o.Batch*256)
	type probe struct {
		jid string
	}
	var probes []probe
	var jidBuf []byte
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := r.eng.IngestRawBatch(ctx, batch)
		if err != nil && (errors.Is(err, capsengine.ErrClosed) || ctx.Err() != nil) {
			return err
		}
		r.presences.Add(int64(len(batch)))
		r.keys.Store(s.Ticks())
		r.jids.Store(s.JIDs())
		batch, arena = batch[:0], arena[:0]
		for _, p := range probes {
			r.probe(p.jid)
		}
		probes = probes[:0]
		return nil
	}
	end := r.start.Add(so.Duration)
	for {
		if s.AtTickStart() {
			k := s.Ticks()
			now := time.Now()
			if !now.Before(end) || ctx.Err() != nil {
				return errors.Join(flush(), ctx.Err())
			}
			// Pace: tick k is due at k / KeysPerSec.
			if so.KeysPerSec > 0 {
				if due := r.start.Add(time.Duration(float64(k) / so.KeysPerSec * float64(time.Second))); due.After(now) {
					if err := flush(); err != nil {
						return err
					}
					time.Sleep(min(due.Sub(now), end.Sub(now)))
					continue
				}
			}
			for !r.tally.room(k) {
				if err := flush(); err != nil {
					return err
				}
				r.stalls.Add(1)
				time.Sleep(10 * time.Millisecond)
				if ctx.Err() != nil || !time.Now().Before(end) {
					return ctx.Err()
				}
			}
			r.tally.start(k)
			if k%256 == 0 {
				r.cpMu.Lock()
				r.checkpoints = append(r.checkpoints, soakCheckpoint{tick: k, t: time.Now()})
				r.cpMu.Unlock()
			}
		}
		it := s.Next()
		switch it.kind {
		case soakLogin:
			jidBuf = soakJID(jidBuf[:0], o.Spec.Seed, it.jid)
			r.tally.announced(it.key, behaviourOf(&o.Peers, jidBuf) == honest)
			if it.first && it.key%int64(so.ProbeEvery) == 0 {
				probes = append(probes, probe{jid: string(jidBuf)})
			}
		case soakLogout:
			r.unavailable.Add(1)
		}
		start := len(arena)
		arena = append(arena, it.stanza...)
		batch = append(batch, arena[start:len(arena):len(arena)])
		if len(batch) == cap(batch) {
			if err := flush(); err != nil {
				return err
			}
		}
	}
}

// probe waits, on a goroutine of its own, for the lookup of jid's key to
// end: a Wait still unanswered after the lookup timeout (plus a query
// timeout and a margin) is a hang.
func (r *soakRun) probe(jid string) {
	pr := &r.probes
	pr.wg.Add(1)
	bound := r.lookupTimeout() + r.o.tuning().QueryTimeout + soakHangMargin
	go func() {
		defer pr.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), bound)
		defer cancel()
		t := time.Now()
		_, err := r.eng.Wait(ctx, jid)
		d := time.Since(t)
		pr.mu.Lock()
		defer pr.mu.Unlock()
		pr.waits++
		switch {
		case err == nil:
			pr.ok++
			pr.hist.add(d)
		case errors.Is(err, capsengine.ErrUnknownJID):
			pr.gone++ // it logged out before the wait reached its shard
		case errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil:
			pr.hangs++
		default:
			pr.failedBy[reason(err)]++
		}
	}()
}

func (pr *soakProbes) report() soakProbeReport {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	return soakProbeReport{Waits: pr.waits, Resolved: pr.ok, Gone: pr.gone, Hangs: pr.hangs, FailedBy: pr.failedBy,
		P50Ms: pr.hist.quantile(0.5), P99Ms: pr.hist.quantile(0.99), MaxMs: pr.hist.quantile(1)}
}

// judgeDue gives their verdict to the keys whose last announcer logged in
// more than the grace ago.
func (r *soakRun) judgeDue() {
	limit := time.Now().Add(-r.grace())
	r.cpMu.Lock()
	upTo := int64(-1)
	i := 0
	for ; i < len(r.checkpoints) && r.checkpoints[i].t.Before(limit); i++ {
		upTo = r.checkpoints[i].tick
	}
	r.checkpoints = append(r.checkpoints[:0], r.checkpoints[i:]...)
	r.cpMu.Unlock()
	if upTo -= r.stream.sh.spread + 1; upTo > 0 {
		r.tally.judge(upTo, false)
	}
}

// quiesce waits until no query has been queued, in flight or being
// answered for a second — every lookup the stream started has ended — or
// the grace has passed.
func (r *soakRun) quiesce(ctx context.Context) {
	deadline := time.Now().Add(r.grace())
	calm := time.Duration(0)
	const step = 20 * time.Millisecond
	for calm < time.Second && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(step)
		g := r.eng.Gauges()
		if g.QueuedQueries == 0 && g.QueriesInFlight == 0 && g.RouterBacklog == 0 && r.peers.InFlight.Load() == 0 {
			calm += step
		} else {
			calm = 0
		}
	}
}

func (r *soakRun) drainEvents(done <-chan struct{}) {
	for {
		select {
		case _, ok := <-r.sub.Events():
			if !ok {
				return
			}
			r.events.Add(1)
		case <-done:
			return
		}
	}
}

// sample reads the engine's and the process's levels now.
func (r *soakRun) sample() soakSample {
	g := r.eng.Gauges()
	c := snakeCounters(r.eng.Counters())
	s := soakSample{
		T: round3(time.Since(r.start).Seconds()), Presences: r.presences.Load(),
		Keys: r.keys.Load(), JIDs: r.jids.Load(),
		LiveLookups: g.LiveLookups, QueuedQueries: g.QueuedQueries, QueriesInFlight: g.QueriesInFlight,
		WaitingJIDs: g.WaitingJIDs, RouterBacklog: g.RouterBacklog, JIDsOnline: g.JIDs,
		Goroutines: runtime.NumGoroutine(), QueryWorkers: g.QueryWorkers, RSS: readStatus("VmRSS"),
		Queries: r.peers.Queries.Load(), Failures: map[string]uint64{},
		EventDrops: int64(c["event_drops"]), Events: r.events.Load(),
	}
	var ms sample
	memSample(&ms)
	s.Heap, s.HeapLive, s.HeapGoal, s.GoResident = ms.Heap, ms.HeapLive, ms.HeapGoal, ms.GoResident
	s.OutsideGo = max(s.RSS-s.GoResident, 0)
	for _, name := range soakFailureCounters {
		s.Failures[name] = c[name]
	}
	return s
}

// logHist is a histogram of durations on log-spaced buckets from 10 µs:
// fixed memory however many waits it counts.
type logHist struct {
	n       int64
	buckets [96]int64 // bucket i: up to 10µs × 10^(i/12)
}

func logBucket(d time.Duration) int {
	us := float64(d) / float64(time.Microsecond)
	if us <= 10 {
		return 0
	}
	return min(int(math.Ceil(12*math.Log10(us/10))), 95)
}

func (h *logHist) add(d time.Duration) { h.buckets[logBucket(d)]++; h.n++ }

// quantile is the upper bound of the bucket holding quantile q, in ms.
func (h *logHist) quantile(q float64) float64 {
	if h.n == 0 {
		return 0
	}
	want := int64(math.Ceil(q * float64(h.n)))
	var n int64
	for i, c := range h.buckets {
		n += c
		if n >= want && c > 0 {
			return round3(0.01 * math.Pow(10, float64(i)/12))
		}
	}
	return 0
}
