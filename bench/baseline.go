package bench

import (
	"context"
	"encoding/xml"
	"errors"
	"hash/maphash"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/capsengine/capsengine"
	"github.com/capsengine/capsengine/hashing"
)

// baseline is what a competent Go developer would write without the
// engine, following the lessons of DEPENDENCIES.md: encoding/xml to
// decode, a JID table of plain maps behind sharded mutexes (sync.Map boxes
// every value and costs the GC twice as much), a map cache behind a
// RWMutex, golang.org/x/sync/singleflight to send one query per key at a
// time — with the cache checked again inside the flight, or a flight that
// ends between a miss and Do sends a second query — and hashing.Verify on
// every answer. Parsing workers yield every few dozen stanzas so that the
// goroutines resolving cold keys are not starved.
//
// What it leaves out, as such code usually does: it does not remember
// announcers that lied or failed, has no fallback queue (the key is tried
// again when its next presence arrives), keeps nothing across restarts
// and bounds nothing.
type baseline struct {
	q       capsengine.Querier
	timeout time.Duration
	opts    hashing.Options

	seed    maphash.Seed
	shards  [baselineShards]baselineShard
	cacheMu sync.RWMutex
	cache   map[hashing.Key]*hashing.Info
	sf      singleflight.Group
	flights sync.WaitGroup

	// onResolve, when set, is called once per key the first time it
	// verifies (before the flight returns).
	onResolve func(hashing.Key)

	c baselineCounters
}

const baselineShards = 64

type baselineShard struct {
	mu sync.Mutex
	m  map[string]hashing.Key
	_  [40]byte // one shard per cache line
}

// baselineCounters are the baseline's running totals, named like the
// engine's counters.
type baselineCounters struct {
	Presences, Unavailable, Hits, Misses, Queries, DedupJoins, Resolved,
	Mismatches, Rejected, QueryErrors, Timeouts, Malformed, NoCaps atomic.Uint64
}

// snapshot reads the counters under the report's names (see snakeCounters).
func (c *baselineCounters) snapshot() map[string]uint64 {
	return map[string]uint64{
		"presences": c.Presences.Load(), "unavailable": c.Unavailable.Load(), "hits": c.Hits.Load(),
		"misses": c.Misses.Load(), "queries": c.Queries.Load(), "dedup_joins": c.DedupJoins.Load(),
		"resolved": c.Resolved.Load(), "mismatches": c.Mismatches.Load(), "rejected": c.Rejected.Load(),
		"query_errors": c.QueryErrors.Load(), "timeouts": c.Timeouts.Load(), "malformed": c.Malformed.Load(),
		"no_caps": c.NoCaps.Load(),
	}
}

// newBaseline returns an empty baseline pipeline asking q, each query
// bounded by timeout.
func newBaseline(q capsengine.Querier, timeout time.Duration) *baseline {
	b := &baseline{q: q, timeout: timeout, seed: maphash.MakeSeed(), cache: make(map[hashing.Key]*hashing.Info)}
	for i := range b.shards {
		b.shards[i].m = make(map[string]hashing.Key)
	}
	return b
}

// xmlPresence is the part of a presence the baseline decodes.
type xmlPresence struct {
	XMLName xml.Name
	From    string     `xml:"from,attr"`
	Type    string     `xml:"type,attr"`
	Caps    []xmlCaps  `xml:"http://jabber.org/protocol/caps c"`
	Caps2   []xmlCaps2 `xml:"urn:xmpp:caps c"`
	MUC     []struct{} `xml:"http://jabber.org/protocol/muc#user x"`
}

type xmlCaps struct {
	Hash string `xml:"hash,attr"`
	Node string `xml:"node,attr"`
	Ver  string `xml:"ver,attr"`
}

type xmlCaps2 struct {
	Hashes []struct {
		Algo  string `xml:"algo,attr"`
		Value string `xml:",chardata"`
	} `xml:"urn:xmpp:hashes:2 hash"`
}

var errNotPresence = errors.New("bench: baseline: not a presence")

// Ingest processes one stanza.
func (b *baseline) Ingest(stanza []byte) error {
	b.c.Presences.Add(1)
	var p xmlPresence
	if err := xml.Unmarshal(stanza, &p); err != nil {
		b.c.Malformed.Add(1)
		return err
	}
	if p.XMLName.Local != "presence" || p.From == "" {
		b.c.Malformed.Add(1)
		return errNotPresence
	}
	switch p.Type {
	case "unavailable":
		b.c.Unavailable.Add(1)
		sh := b.shard(p.From)
		sh.mu.Lock()
		delete(sh.m, p.From)
		sh.mu.Unlock()
		return nil
	case "":
	default:
		return nil
	}
	var buf [8]hashing.Key
	ks := buf[:0]
	node := ""
	for _, c := range p.Caps[:min(len(p.Caps), 1)] {
		node = c.Node
		if c.Hash == "" {
			continue
		}
		if alg, err := hashing.ParseAlgorithm(c.Hash); err == nil {
			if k, err := hashing.ParseKey(hashing.XEP0115, alg, c.Ver); err == nil {
				ks = append(ks, k)
			}
		}
	}
	for _, c := range p.Caps2[:min(len(p.Caps2), 1)] {
		for _, h := range c.Hashes {
			if alg, err := hashing.ParseAlgorithm(h.Algo); err == nil {
				if k, err := hashing.ParseKey(hashing.XEP0390, alg, h.Value); err == nil && len(ks) < len(buf) {
					ks = append(ks, k)
				}
			}
		}
	}
	k, ok := decidingKey(ks)
	if !ok {
		b.c.NoCaps.Add(1)
		return nil
	}
	sh := b.shard(p.From)
	sh.mu.Lock()
	sh.m[p.From] = k
	sh.mu.Unlock()

	b.cacheMu.RLock()
	_, hit := b.cache[k]
	b.cacheMu.RUnlock()
	if hit {
		b.c.Hits.Add(1)
		return nil
	}
	b.c.Misses.Add(1)
	others := make([]hashing.Key, 0, len(ks))
	for _, o := range ks {
		if o != k {
			others = append(others, o)
		}
	}
	b.resolve(k, others, p.From, node)
	return nil
}

func (b *baseline) shard(jid string) *baselineShard {
	return &b.shards[maphash.String(b.seed, jid)%baselineShards]
}

// resolve looks k up on its own goroutine; concurrent misses of one key
// share a flight.
func (b *baseline) resolve(k hashing.Key, others []hashing.Key, jid, node string) {
	b.flights.Add(1)
	go func() {
		defer b.flights.Done()
		_, _, shared := b.sf.Do(string(k.AppendDigest([]byte{byte(k.Scheme), byte(k.Alg)})), func() (any, error) {
			// Checked again: a flight that ended between our miss and Do
			// has filled the cache.
			b.cacheMu.RLock()
			info, ok := b.cache[k]
			b.cacheMu.RUnlock()
			if ok {
				return info, nil
			}
			return b.query(k, others, jid, node)
		})
		if shared {
			b.c.DedupJoins.Add(1)
		}
	}()
}

func (b *baseline) query(k hashing.Key, others []hashing.Key, jid, node string) (*hashing.Info, error) {
	ctx, cancel := context.WithTimeout(context.Background(), b.timeout)
	defer cancel()
	b.c.Queries.Add(1)
	info, err := b.q.QueryInfo(ctx, jid, k.QueryNode(node))
	if err != nil {
		if ctx.Err() != nil {
			b.c.Timeouts.Add(1)
		} else {
			b.c.QueryErrors.Add(1)
		}
		return nil, err
	}
	if _, err := hashing.Verify(k, info, b.opts); err != nil {
		var mm *hashing.MismatchError
		if errors.As(err, &mm) {
			b.c.Mismatches.Add(1)
		} else {
			b.c.Rejected.Add(1)
		}
		return nil, err
	}
	b.cacheMu.Lock()
	b.cache[k] = info
	for _, o := range others {
		if _, err := hashing.Verify(o, info, b.opts); err == nil {
			b.cache[o] = info
		}
	}
	b.cacheMu.Unlock()
	b.c.Resolved.Add(1)
	if b.onResolve != nil {
		b.onResolve(k)
	}
	return info, nil
}

// Wait returns once every lookup started so far has ended.
func (b *baseline) Wait() { b.flights.Wait() }

// Key returns the key jid announced last.
func (b *baseline) Key(jid string) (hashing.Key, bool) {
	sh := b.shard(jid)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	k, ok := sh.m[jid]
	return k, ok
}

// Caps returns the verified answer for k.
func (b *baseline) Caps(k hashing.Key) (*hashing.Info, bool) {
	b.cacheMu.RLock()
	defer b.cacheMu.RUnlock()
	info, ok := b.cache[k]
	return info, ok
}

// JIDs is the number of JIDs in the table.
func (b *baseline) JIDs() int {
	n := 0
	for i := range b.shards {
		sh := &b.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}

// yieldEvery is how many stanzas a baseline worker parses before letting
// the resolving goroutines run (DEPENDENCIES.md: without it, cold-key p50
// was 30 ms for a 1 ms round trip).
const yieldEvery = 32

// baselineRun drives the baseline through the cold and warm phases.
type baselineRun struct {
	o     *Options
	w     *workload
	peers *peers
}

func (r *baselineRun) run(ctx context.Context, prog Progress) (*systemReport, error) {
	rep := &systemReport{Name: "baseline", UniqueKeys: r.w.Meta.UniqueKeys, ResolvableKeys: r.w.Meta.Resolvable}
	w := r.w
	w.releaseAll()
	freeMemory()
	resetPeakRSS()
	heap0 := heapAlloc()
	b := newBaseline(r.peers, r.o.QueryTimeout)

	// Cold-key latency: the time a key's first chunk was handed over, and
	// the time the key first verified.
	nk := len(r.w.Meta.Keys)
	clock := newColdClock(r.w)
	resolved := make([]atomic.Int64, nk)
	b.onResolve = func(k hashing.Key) {
		if i, ok := r.w.KeyIndex(k); ok {
			resolved[i].CompareAndSwap(0, time.Now().UnixNano())
		}
	}
	total := map[string]uint64{}
	phase := func(name string, cold bool) error {
		r.w.releaseAll()
		meter := startMeter(r.peers, b.c.snapshot())
		pp := startPhase(prog, "baseline "+name, int64(r.w.Len()))
		start := time.Now()
		samples, maxG, err := feed(ctx, r.w, r.o.Workers, r.o.Batch, pp, func(ctx context.Context, stanzas [][]byte, from int, t time.Time) error {
			if cold {
				clock.stamp(r.w, from, from+len(stanzas), t)
			}
			for i, s := range stanzas {
				_ = b.Ingest(s) // errors are counted
				if i%yieldEvery == yieldEvery-1 {
					runtime.Gosched()
				}
			}
			return ctx.Err()
		})
		ingest := time.Since(start)
		b.Wait()
		secs := time.Since(start)
		pp.finish(r.w.Len(), secs)
		if err != nil {
			return err
		}
		p := meter.report(name, r.w.Len(), secs, ingest, b.c.snapshot(), maxG, samples)
		for k, v := range p.Counters {
			total[k] += v
		}
		rep.Phases = append(rep.Phases, p)
		return nil
	}
	if err := phase("cold", true); err != nil {
		return nil, err
	}
	rep.ResolveLatency, rep.HonestFirstLatency, rep.FromHonestLatency, rep.StreamWait = keyLatencies(r.w, r.peers, clock, resolved)
	rep.QueryDelay = queryDelay(r.w, r.peers, clock.first)
	if err := phase("warm", false); err != nil {
		return nil, err
	}
	heap := heapAlloc()
	rep.JIDs = b.JIDs()
	rep.HeapBytes = int64(heap) - int64(heap0)
	if rep.JIDs > 0 {
		rep.BytesPerJID = float64(rep.HeapBytes) / float64(rep.JIDs)
	}
	for _, k := range r.w.Meta.Keys {
		if _, ok := b.Caps(k.Key); ok {
			rep.ResolvedKeys++
		}
	}
	rep.settle(r.peers, total)
	runtime.KeepAlive(b)
	return rep, nil
}
