package actors

import (
	"hash/maphash"
	"strings"
	"sync"

	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/messages"
)

// table is one ingest shard's map of full JID → announced key. Only the
// shard's actor adds and removes JIDs (so one JID's presences apply in
// order); API callers read it under the read lock without a round trip
// through the actor, and a lookup that ends marks the JIDs of its key under
// the write lock. Keys are interned with reference counts: a million JIDs
// running the same client share one 66-byte Key, and keys nobody announces
// any more are freed, so a flood of random keys cannot grow the table
// beyond one slot per JID.
//
// Each key's slot heads a list of the rows (JIDs) announcing it, so that
// when a key's outcome is known the JIDs to tell are found in time
// proportional to their number — whether the key was verified by this
// JID's lookup, a later one, or a cluster member — and memory stays one
// row per online JID.
type table struct {
	mu sync.RWMutex
	// jids maps a full JID, by its 128-bit keyed fingerprint, to its row.
	// A fingerprint key keeps the index free of pointers (the GC does not
	// scan a million entries) and a lookup free of string comparisons,
	// whose pointer chase was the warm path's costliest cache miss. Two
	// independent 64-bit maphash values under secret per-process seeds:
	// a collision among even 10^9 JIDs has probability ~10^-20, and peers
	// cannot aim for one.
	jids  jidIndex
	rows  rowStore
	rfree []int32
	slots []keySlot
	index map[hashing.Key]int32
	free  []int32
	// Deletions from index since it was last rebuilt: see compact.
	keyDeletes int

	// hub receives the events about this table's rows. They are queued in
	// pending, in the order of the changes they report, and published
	// together by whoever holds the lock at the end of its work: the
	// shard actor once per batch, a lookup's settle at once. One ring
	// lock per batch instead of one per presence; and since a settle
	// publishes the shard's queued events before its own, every JID's
	// events keep the order of the table's changes.
	hub     *Hub
	pending []messages.Event

	// unhashed are the JIDs without a verifiable hash, each with its own
	// answer (unhashed.go); nil unless Config.QueryUnhashed. Under mu, so
	// that their events keep the table's order too.
	unhashed        map[string]*unhashedEntry
	unhashedGen     uint64
	unhashedDeletes int

	// sink keeps prefetchLocked's loads from being optimized away.
	sink uint64

	// betweenChunks, when set (by tests), runs between two chunks of a
	// walk (each), with no lock held.
	betweenChunks func()
}

// emitLocked queues ev for publication. Callers build events only when
// the hub wants their kind, so nothing queues without subscribers.
func (t *table) emitLocked(ev messages.Event) { t.pending = append(t.pending, ev) }

// flushLocked publishes the queued events.
func (t *table) flushLocked() {
	if len(t.pending) == 0 {
		return
	}
	t.hub.PublishAll(t.pending)
	clear(t.pending) // the events belong to the subscribers now
	t.pending = t.pending[:0]
}

// compact returns m, or a copy of it at its live size once it has seen
// more deletions than twice that size (plus a floor, so that small maps
// are left alone). Go maps never give memory back, and under the churn of
// a server up for months — JIDs and keys that come and go — their
// deleted slots made them grow with what was ever seen: a 7.5-minute soak
// grew the key index by 42 MB while the live keys stayed flat. The copy
// costs O(live), paid for by the deletions: amortized O(1) per delete.
func compact[K comparable, V any](m map[K]V, deletes *int) map[K]V {
	*deletes++
	if *deletes < 2*len(m)+compactFloor {
		return m
	}
	*deletes = 0
	out := make(map[K]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// compactFloor is the deletions a map sees before it may be rebuilt.
const compactFloor = 4096

type fingerprint [2]uint64

// entry is a JID's map value: its key slot, read on every presence without
// touching rows (one cache miss fewer), and its row. The row index's top
// bit mirrors row.told == toldResolved, so that the commonest presence of
// all — a JID announcing again the key it was told the answer of — touches
// no row either: with a million JIDs that row was one more cache miss per
// presence (capsengine bench, warm presences per CPU second, three runs
// alternating with the row skipped outright: +5–16%).
type entry struct {
	slot int32
	r    uint32
}

const toldResolvedBit = 1 << 31

func newEntry(slot, row int32) entry { return entry{slot: slot, r: uint32(row)} }

func (e entry) row() int32 { return int32(e.r &^ toldResolvedBit) }

// resolved reports whether the JID was told CapsResolved for its key.
func (e entry) resolved() bool { return e.r&toldResolvedBit != 0 }

// told is what a JID has been told about its current key.
type told uint8

const (
	toldNothing  told = iota // its key is being looked up
	toldResolved             // CapsResolved
	toldFailed               // CapsFailed: the lookup failed
	toldDropped              // CapsFailed with ErrOverloaded: never looked up
)

// row is one JID: its name, kept for iteration and events, its place in
// its key's list, and what it was told.
type row struct {
	jid        string
	prev, next int32 // rows of the same key; -1 ends the list
	slot       int32 // the key's slot (fits in the row's padding)
	told       told
}

var fpSeeds = [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}

func fingerprintOf(jid string) fingerprint {
	// Never zero, which marks jidIndex's empty cells.
	return fingerprint{maphash.String(fpSeeds[0], jid), maphash.String(fpSeeds[1], jid) | 1}
}

type keySlot struct {
	key  hashing.Key
	refs int32
	head int32 // first row announcing key, -1 for none
	// node is the XEP-0115 node of the JID that brought the key to this
	// shard: what a retried lookup asks for (node#ver) when all it has is
	// the key and a JID.
	node string
	// info, once set, is the key's verified disco#info (found in the
	// store, or verified while the key was announced here). Entries are
	// never withdrawn while the engine runs, so later presences with this
	// key are hits without touching the store; one pointer per key
	// announced in this shard, shared.
	info *hashing.Info
}

func newTable(hub *Hub) *table {
	return &table{index: make(map[hashing.Key]int32), hub: hub}
}

// get returns the key jid announced last.
func (t *table) get(jid string) (hashing.Key, bool) {
	s, ok := t.state(jid)
	return s.key, ok
}

// jidState is a JID's row as API callers see it.
type jidState struct {
	key  hashing.Key
	told told
	node string // the caps node of the key's first announcer here
	// info is the key's verified disco#info once the shard knows it,
	// which may be before the store has committed it.
	info *hashing.Info
}

// state returns the key jid announced last and what jid was told of it.
func (t *table) state(jid string) (jidState, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.stateLocked(jid)
}

// tryState is state, or not found when someone holds the write lock.
func (t *table) tryState(jid string) (jidState, bool) {
	if !t.mu.TryRLock() {
		return jidState{}, false
	}
	defer t.mu.RUnlock()
	return t.stateLocked(jid)
}

func (t *table) stateLocked(jid string) (jidState, bool) {
	e, ok := t.jids.get(fingerprintOf(jid))
	if !ok {
		return jidState{}, false
	}
	sl := &t.slots[e.slot]
	return jidState{key: sl.key, told: t.rows.at(e.row()).told, node: sl.node, info: sl.info}, true
}

// setLocked records that jid announced k, with caps node node, and returns
// k's slot and jid's row, and whether jid was told CapsResolved for k
// already. jid and node may point into a shared arena: the table keeps its
// own copies. A JID that announces a new key has been told nothing of it
// yet.
func (t *table) setLocked(jid string, k hashing.Key, node string) (slot, r int32, resolved bool) {
	return t.setFPLocked(fingerprintOf(jid), jid, k, node)
}

// setFPLocked is setLocked for a JID whose fingerprint the caller has.
func (t *table) setFPLocked(fp fingerprint, jid string, k hashing.Key, node string) (slot, r int32, resolved bool) {
	e, had := t.jids.get(fp)
	if had && t.slots[e.slot].key == k {
		return e.slot, e.row(), e.resolved()
	}
	s, ok := t.index[k]
	if !ok {
		ks := keySlot{key: k, head: -1, node: strings.Clone(node)}
		if n := len(t.free); n > 0 {
			s, t.free = t.free[n-1], t.free[:n-1]
			t.slots[s] = ks
		} else {
			s = int32(len(t.slots))
			t.slots = append(t.slots, ks)
		}
		t.index[k] = s
	}
	t.slots[s].refs++
	if had {
		t.unlinkLocked(e.row(), e.slot)
		t.releaseLocked(e.slot)
		r = e.row()
		t.rows.at(r).told = toldNothing
	} else {
		if n := len(t.rfree); n > 0 {
			r, t.rfree = t.rfree[n-1], t.rfree[:n-1]
			*t.rows.at(r) = row{jid: strings.Clone(jid)}
		} else {
			r = t.rows.add(row{jid: strings.Clone(jid)})
		}
	}
	t.linkLocked(r, s)
	t.jids.put(fp, newEntry(s, r))
	return s, r, false
}

// toldResolvedLocked records in jid's index entry that row r, jid's, was
// told CapsResolved (entry.resolved).
func (t *table) toldResolvedLocked(r *row) {
	t.jids.markResolved(fingerprintOf(r.jid))
}

func (t *table) linkLocked(r, s int32) {
	h := t.slots[s].head
	rw := t.rows.at(r)
	rw.prev, rw.next, rw.slot = -1, h, s
	if h >= 0 {
		t.rows.at(h).prev = r
	}
	t.slots[s].head = r
}

func (t *table) unlinkLocked(r, s int32) {
	rw := t.rows.at(r)
	p, n := rw.prev, rw.next
	if p >= 0 {
		t.rows.at(p).next = n
	} else {
		t.slots[s].head = n
	}
	if n >= 0 {
		t.rows.at(n).prev = p
	}
	rw.prev, rw.next = -1, -1
}

// removeLocked forgets jid and reports whether it was known.
func (t *table) removeLocked(jid string) bool {
	return t.removeFPLocked(fingerprintOf(jid))
}

// removeFPLocked is removeLocked for a JID's fingerprint.
func (t *table) removeFPLocked(fp fingerprint) bool {
	e, ok := t.jids.get(fp)
	if !ok {
		return false
	}
	t.jids.del(fp)
	t.unlinkLocked(e.row(), e.slot)
	t.releaseLocked(e.slot)
	*t.rows.at(e.row()) = row{}
	t.rfree = append(t.rfree, e.row())
	return true
}

func (t *table) releaseLocked(s int32) {
	t.slots[s].refs--
	if t.slots[s].refs == 0 {
		delete(t.index, t.slots[s].key)
		t.index = compact(t.index, &t.keyDeletes)
		t.slots[s] = keySlot{}
		t.free = append(t.free, s)
	}
}

// settle applies a key's outcome to the JIDs announcing it in this table:
// f is called, under the write lock, for each row and may change what the
// row was told. info, when set, is the key's verified disco#info.
func (t *table) settle(k hashing.Key, info *hashing.Info, f func(r *row)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	defer t.flushLocked()
	s, ok := t.index[k]
	if !ok {
		return
	}
	if info != nil {
		t.slots[s].info = info
	}
	for r := t.slots[s].head; r >= 0; r = t.rows.at(r).next {
		f(t.rows.at(r))
	}
}

// len is the number of JIDs in the table.
func (t *table) len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.jids.len()
}

// eachKey calls f with every key a JID of the table announces, once per
// key: a walk over the keys, not the JIDs.
func (t *table) eachKey(f func(hashing.Key)) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	for i := range t.slots {
		if t.slots[i].refs > 0 {
			f(t.slots[i].key)
		}
	}
}

// each calls f for every JID whose key satisfies match (called once per
// key). It walks the rows eachChunk at a time under the read lock and lets
// go of it in between: a dashboard's question over every JID held the
// shard's ingest off for the whole walk (tens of milliseconds at 200,000
// JIDs a shard), now for one chunk at a time. With one goroutine asking
// Entities and Software back to back, warm ingest went from 1.04–1.07M to
// 1.11–1.16M presences/s (BenchmarkIngestWhileWalking; the longest batch
// is set by the CPU the walker takes, not by this lock, and did not
// shrink). A JID that comes, goes or changes keys during the walk may be
// reported or not. match and f run under the read lock and must not call
// back into the table.
func (t *table) each(match func(k hashing.Key, info *hashing.Info) bool, f func(jid string, k hashing.Key)) {
	matched := make(map[hashing.Key]bool)
	for from := 0; ; from += eachChunk {
		t.mu.RLock()
		if from >= t.rows.len() {
			t.mu.RUnlock()
			return
		}
		for i := from; i < min(from+eachChunk, t.rows.len()); i++ {
			r := t.rows.at(int32(i))
			if r.jid == "" {
				continue // a free row
			}
			sl := &t.slots[r.slot]
			ok, seen := matched[sl.key]
			if !seen {
				ok = match(sl.key, sl.info)
				matched[sl.key] = ok
			}
			if ok {
				f(r.jid, sl.key)
			}
		}
		t.mu.RUnlock()
		if t.betweenChunks != nil {
			t.betweenChunks()
		}
	}
}

// eachChunk is how many rows each walks per hold of the read lock: about
// 100 µs of work.
var eachChunk = 4096

// rowStore holds a table's rows in chunks of rowChunk. Growing adds a
// chunk and copies nothing: as one slice, every doubling copied all rows
// — strings included, so under the GC's write barriers — which took 3.3 s
// of the 56 s profiled in a 10M-presence bench run (cold and warm passes),
// and for a moment held the old and the new array at once.
type rowStore struct {
	chunks [][]row
	n      int
}

const rowChunkBits = 12
const rowChunk = 1 << rowChunkBits

// at is row r; r < len().
func (rs *rowStore) at(r int32) *row { return &rs.chunks[r>>rowChunkBits][r&(rowChunk-1)] }

// add appends x and returns its index.
func (rs *rowStore) add(x row) int32 {
	if rs.n == len(rs.chunks)*rowChunk {
		rs.chunks = append(rs.chunks, make([]row, rowChunk))
	}
	r := int32(rs.n)
	rs.n++
	*rs.at(r) = x
	return r
}

func (rs *rowStore) len() int { return rs.n }

// prefetchLocked sets fps[i] to the fingerprint of run[i]'s JID, and
// reads the index cell and the key slot each will touch. These loads do
// not depend on one another, so the CPU keeps many of its cache misses
// in flight at once, where applying the presences one after the other
// waits for each miss in turn: with a million JIDs the index is far
// larger than the caches. Nothing read here is used; the presences are
// applied after, under the same hold of the lock (BenchmarkTableWarm).
func (t *table) prefetchLocked(run []item, fps *[lockRun]fingerprint) {
	for i := range run {
		fps[i] = fingerprintOf(run[i].jid)
	}
	cells := t.jids.cells
	if len(cells) == 0 {
		return
	}
	// A loop of loads alone, a few instructions each: the CPU's reorder
	// window then spans enough of them to keep its miss buffers full.
	mask := uint64(len(cells) - 1)
	var sink uint64
	for i := range run {
		sink += cells[fps[i][0]&mask].fp[1]
	}
	// The key a JID announced is compared with its slot's, which may
	// span two cache lines (slots are not aligned to them): its first
	// byte and the field after it are read.
	for i := range run {
		c := &cells[fps[i][0]&mask]
		if c.fp == fps[i] {
			sl := &t.slots[c.e.slot]
			sink += uint64(sl.key.Scheme) + uint64(sl.refs)
		}
	}
	t.sink = sink
}
