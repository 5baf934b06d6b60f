package actors

import (
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"golang.org/x/sync/semaphore"

	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/internal/supervise"
	"github.com/capsengine/capsengine/messages"
)

// maxKeys bounds the keys kept from one presence: one XEP-0115 and a few
// XEP-0390 hashes. A presence with more hashes keeps the preferred ones.
const maxKeys = 4

type itemKind uint8

const (
	itemAvailable itemKind = iota + 1
	itemUnavailable
	itemUnhashed // available, with no verifiable hash (Config.QueryUnhashed)
)

// item is one presence reduced to what the ingest shard needs. It is kept
// small (no pointers beyond two strings and a rarely-set slice): batches of
// them are the ingest path's only allocation.
type item struct {
	jid    string      // may point into the batch's arena: clone to keep
	node   string      // XEP-0115 node; may point into the arena too
	key    hashing.Key // decides: see setKeys
	others []hashing.Key
	kind   itemKind
}

// ingestBatch carries presences for one shard. A single presence travels
// in one, so the common case costs one allocation.
type ingestBatch struct {
	one    item
	items  []item    // when nil, the batch is just one
	weight int64     // admission permits held, released by the shard
	sent   time.Time // when it was queued for its shard (Latencies.Waits)
}

// Batches of many presences come from a pool and go back once their shard
// has applied them: the per-shard item slices were most of the warm
// path's allocation (~300 bytes a presence) and so of its GC work.
var batchPool = sync.Pool{New: func() any { return &ingestBatch{items: make([]item, 0, 64)} }}

func getBatch() *ingestBatch { return batchPool.Get().(*ingestBatch) }

// putBatch recycles b, whose shard is done with it. Its items point into
// their batch's arena: cleared, so that the pool keeps no arena alive.
func putBatch(b *ingestBatch) {
	if b.items == nil || cap(b.items) > 1<<14 {
		return // a single presence, or too large to keep
	}
	clear(b.items)
	b.items, b.weight = b.items[:0], 0
	batchPool.Put(b)
}

// setKeys picks the key that decides the presence (hashing.Deciding) and
// keeps the others, which the same answer may prove too. It reports
// whether there was any key.
func (it *item) setKeys(ks []hashing.Key) bool {
	switch len(ks) {
	case 0:
		return false
	case 1:
		it.key, it.others = ks[0], nil
		return true
	}
	best := hashing.Deciding(ks)
	it.key = ks[best]
	it.others = make([]hashing.Key, 0, min(len(ks)-1, maxKeys-1))
	for i, k := range ks {
		if i != best && len(it.others) < cap(it.others) && !slices.Contains(it.others, k) && k != it.key {
			it.others = append(it.others, k)
		}
	}
	return true
}

// barrier is answered once the shard has applied everything queued before.
type barrier struct{ done chan struct{} }

// shard is one ingest actor with its JID table and its admission semaphore.
type shard struct {
	pid   *actor.PID
	table *table
	// sem admits presences (not messages) into the shard's mailbox: its
	// weight is Config.ShardQueue. Callers wait when it is full, which is
	// also what leaves the CPU to the actors behind the shards.
	sem *semaphore.Weighted
}

type shardActor struct {
	d      *core
	sh     *shard
	router *actor.PID
}

func (a *shardActor) Receive(ctx actor.Context) {
	var b *ingestBatch
	switch m := ctx.Message().(type) {
	case *ingestBatch:
		b = m
	case *waitJID:
		a.wait(ctx, m)
		return
	case *barrier:
		close(m.done)
		return
	case *refreshUnhashed:
		a.refreshUnhashed(m.jid)
		return
	default:
		return
	}
	// Release the admission permits whatever happens to the batch; it
	// is not used after.
	a.d.latency.ingest.since(b.sent)
	defer putBatch(b)
	defer a.sh.sem.Release(b.weight)
	defer func() { supervise.Recovered(a.d.log, &a.d.counters.Panics, "ingest actor", recover()) }()
	var hits uint64
	var misses []*lookupReq
	t := a.sh.table
	// One hold of the lock for lockRun presences, not one per presence:
	// a warm presence is a few hundred ns of work, and a profile put 4%
	// of it in the RWMutex (BenchmarkSubscribers/stalled=0, three runs
	// alternating: 864–879 → 855–860 CPU ns per presence). Readers and
	// lookups telling this table's JIDs usually wait one run (tens of
	// µs); a writer the shard keeps barging past gets the lock handed
	// over after 1 ms (sync.Mutex's starvation mode), as before.
	t.mu.Lock()
	defer t.mu.Unlock() // apply unwinds with the lock held, even in a panic
	if b.items == nil {
		misses = a.applyLocked(&b.one, fingerprintOf(b.one.jid), &hits, misses)
	} else {
		var fps [lockRun]fingerprint
		for from := 0; from < len(b.items); from += lockRun {
			if from > 0 {
				t.mu.Unlock()
				t.mu.Lock()
			}
			run := b.items[from:min(from+lockRun, len(b.items))]
			t.prefetchLocked(run, &fps)
			for i := range run {
				misses = a.applyLocked(&run[i], fps[i], &hits, misses)
			}
		}
	}
	a.d.counters.Hits.Add(hits)
	t.flushLocked()
	if len(misses) > 0 {
		// One message per batch: every hop costs a goroutine wake-up, and
		// under load a wake-up waits for a CPU.
		ctx.Send(a.router, &lookupBatch{reqs: misses})
	}
}

// lockRun is how many presences a shard applies per hold of its table's
// lock.
const lockRun = 64

// applyLocked applies one presence to the table and appends the lookup it
// needs, if any, to misses. It is called, and returns, with the table
// locked; it lets go of the lock while it reads the store.
func (a *shardActor) applyLocked(it *item, fp fingerprint, hits *uint64, misses []*lookupReq) []*lookupReq {
	d, t := a.d, a.sh.table
	switch it.kind {
	case itemUnavailable:
		gone := t.removeFPLocked(fp)
		if waiters, ok := t.removeUnhashedLocked(it.jid); ok {
			gone = true
			for _, w := range waiters {
				w <- waitResult{err: ErrUnknownJID}
			}
		}
		if gone && d.hub.Wants(messages.KindEntityGone) {
			t.emitLocked(&messages.EntityGone{JID: strings.Clone(it.jid)})
		}
		return misses
	case itemUnhashed:
		d.applyUnhashedLocked(t, it.jid)
		return misses
	}
	k := it.key
	// A verifiable hash replaces the JID's unverified answer; Waits held
	// for that answer are asked again, after this batch, and then see
	// the key.
	if waiters, ok := t.removeUnhashedLocked(it.jid); ok {
		for _, w := range waiters {
			d.system.Root.Send(a.sh.pid, &waitJID{jid: strings.Clone(it.jid), reply: w})
		}
	}
	slot, r, told := t.setFPLocked(fp, it.jid, k, it.node)
	known := t.slots[slot].info
	if known != nil && told {
		// The commonest presence: nothing new, and no row to touch.
		*hits++
		return misses
	}
	jid := t.rows.at(r).jid
	if known != nil {
		// A hit without the store. A JID re-announcing a key it was
		// told about hears nothing new.
		d.resolvedLocked(t, t.rows.at(r), k, known, true)
		*hits++
		return misses
	}
	// The store may read the disk: not under the lock.
	t.mu.Unlock()
	defer t.mu.Lock()
	// Another shard may keep the key's info already: no store read, and
	// one copy between them.
	if info := d.infos.get(k); info != nil {
		*hits++
		t.mu.Lock()
		t.slots[slot].info = info
		d.resolvedLocked(t, t.rows.at(r), k, info, true)
		t.mu.Unlock()
		return misses
	}
	// A key being looked up, or asked for by a request on its way to the
	// router, is not in the store yet (a lookup stores it before it
	// ends, and the lookup checks the store when it starts): skip the
	// store's miss, which costs a disk read.
	var missed uint64
	first := !d.looking.has(k) // no lookup or request for k under way
	if first {
		missed = d.writes.stamp(k)
		if info, err := d.store.Get(k); err == nil {
			info = d.infos.canonical(k, info)
			*hits++
			// Only this actor moves JIDs between keys, so r is still
			// its row.
			t.mu.Lock()
			t.slots[slot].info = info
			d.resolvedLocked(t, t.rows.at(r), k, info, true)
			t.mu.Unlock()
			return misses
		}
	}
	d.counters.Misses.Add(1)
	// The router is one actor: under a flood of unknown keys it must not
	// fall behind without bound. Past the backlog limit the presence is
	// dropped, counted, and the JID told — Caps and Wait say
	// ErrOverloaded for it from then on. The key is not marked failed: a
	// lookup for it may well be running for other JIDs.
	if d.backlog.Load() >= int64(d.cfg.RouterQueue) {
		d.counters.DropLookups.Add(1)
		t.mu.Lock()
		if t.rows.at(r).told == toldNothing {
			t.rows.at(r).told = toldDropped
			if d.hub.Wants(messages.KindCapsFailed) {
				t.emitLocked(&messages.CapsFailed{JID: t.rows.at(r).jid, Key: k, Err: ErrOverloaded})
			}
		}
		t.mu.Unlock()
		return misses
	}
	d.backlog.Add(1)
	if first {
		// Later presences of k skip the store until its lookup ends.
		d.looking.add(k)
	}
	// Strings from a batch's arena must not outlive it in a lookup: the
	// JID is the table's own copy.
	return append(misses, &lookupReq{key: k, jid: jid, node: strings.Clone(it.node), others: it.others, missed: missed, inFlight: first, at: time.Now()})
}

// wait answers a Wait for m.jid, or hands it to the router when the
// outcome is not known yet; see the lookup's doc for what it answers when.
func (a *shardActor) wait(ctx actor.Context, m *waitJID) {
	s, ok := a.sh.table.state(m.jid)
	if !ok {
		if !a.d.cfg.QueryUnhashed || !a.waitUnhashed(m) {
			m.reply <- waitResult{err: ErrUnknownJID}
		}
		return
	}
	// A key with a lookup or a request under way goes to the router
	// without a store read: the lookup answers, and without one the
	// router reads the store itself (outcome). During a cold flood most
	// waits are for such keys, and each read was a pebble miss.
	res, known := a.d.known(s, !a.d.looking.has(s.key))
	// A JID told nothing yet announced the key after any failure on
	// record: its own lookup is on its way to the router, ahead of this
	// wait, which the router hands to it.
	if known && (res.err == nil || s.told != toldNothing) {
		m.reply <- res
		return
	}
	// The key's first query is out and its lookup not started: the
	// query's outcome answers, without the router.
	if q := a.d.looking.earlyOf(s.key); q != nil && q.park(m.reply) {
		return
	}
	// Under way, or to be looked up again from this JID (the router
	// starts a lookup only when none runs and no outcome is known).
	ctx.Send(a.router, &waitReq{key: s.key, reply: m.reply, retry: &lookupReq{key: s.key, jid: m.jid, node: s.node}})
}

// known is the outcome for a JID in state s when one is known without a
// lookup: resolved (in the store, if readStore), dropped under load, or
// recently failed.
func (d *core) known(s jidState, readStore bool) (waitResult, bool) {
	if s.info != nil {
		return waitResult{key: s.key, info: s.info}, true
	}
	if readStore {
		if info, err := d.store.Get(s.key); err == nil {
			return waitResult{key: s.key, info: info}, true
		}
	}
	if s.told == toldDropped {
		return waitResult{key: s.key, err: ErrOverloaded}, true
	}
	if err, ok := d.failures.get(s.key); ok {
		return waitResult{key: s.key, err: err}, true
	}
	return waitResult{key: s.key}, false
}
