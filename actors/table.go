package actors

import (
	"hash/maphash"
	"strings"
	"sync"

	"github.com/capsengine/capsengine/hashing"
)

// table is one ingest shard's map of full JID → announced key. Only the
// shard's actor writes it (so one JID's presences apply in order); API
// callers read it under the read lock without a round trip through the
// actor. Keys are interned with reference counts: a million JIDs running
// the same client share one 66-byte Key, and keys nobody announces any
// more are freed, so a flood of random keys cannot grow the table beyond
// one slot per JID.
type table struct {
	mu sync.RWMutex
	// jids maps a full JID, by its 128-bit keyed fingerprint, to its row.
	// A fingerprint key keeps the map free of pointers (the GC does not
	// scan a million entries) and a lookup free of string comparisons,
	// whose pointer chase was the warm path's costliest cache miss. Two
	// independent 64-bit maphash values under secret per-process seeds:
	// a collision among even 10^9 JIDs has probability ~10^-20, and peers
	// cannot aim for one.
	jids  map[fingerprint]entry
	rows  []row
	rfree []int32
	slots []keySlot
	index map[hashing.Key]int32
	free  []int32
}

type fingerprint [2]uint64

// entry is a JID's map value: its key slot, read on every presence without
// touching rows (one cache miss fewer), and its row.
type entry struct {
	slot, row int32
}

// row is one JID's name, kept for iteration.
type row struct {
	jid string
}

var fpSeeds = [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}

func fingerprintOf(jid string) fingerprint {
	return fingerprint{maphash.String(fpSeeds[0], jid), maphash.String(fpSeeds[1], jid)}
}

type keySlot struct {
	key  hashing.Key
	refs int32
	// resolved: the key was found in the store once. Stored entries are
	// never withdrawn while the engine runs, so later presences with this
	// key are hits without touching the cache.
	resolved bool
}

func newTable() *table {
	return &table{jids: make(map[fingerprint]entry), index: make(map[hashing.Key]int32)}
}

// get returns the key jid announced last.
func (t *table) get(jid string) (hashing.Key, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	e, ok := t.jids[fingerprintOf(jid)]
	if !ok {
		return hashing.Key{}, false
	}
	return t.slots[e.slot].key, true
}

// setLocked records that jid announced k and returns k's slot. jid may
// point into a shared arena: the table keeps its own copy.
func (t *table) setLocked(jid string, k hashing.Key) int32 {
	fp := fingerprintOf(jid)
	e, had := t.jids[fp]
	if had && t.slots[e.slot].key == k {
		return e.slot
	}
	s, ok := t.index[k]
	if !ok {
		if n := len(t.free); n > 0 {
			s, t.free = t.free[n-1], t.free[:n-1]
			t.slots[s] = keySlot{key: k}
		} else {
			s = int32(len(t.slots))
			t.slots = append(t.slots, keySlot{key: k})
		}
		t.index[k] = s
	}
	t.slots[s].refs++
	if had {
		t.jids[fp] = entry{slot: s, row: e.row}
		t.releaseLocked(e.slot)
		return s
	}
	var r int32
	if n := len(t.rfree); n > 0 {
		r, t.rfree = t.rfree[n-1], t.rfree[:n-1]
		t.rows[r] = row{jid: strings.Clone(jid)}
	} else {
		r = int32(len(t.rows))
		t.rows = append(t.rows, row{jid: strings.Clone(jid)})
	}
	t.jids[fp] = entry{slot: s, row: r}
	return s
}

// removeLocked forgets jid and reports whether it was known.
func (t *table) removeLocked(jid string) bool {
	fp := fingerprintOf(jid)
	e, ok := t.jids[fp]
	if !ok {
		return false
	}
	delete(t.jids, fp)
	t.releaseLocked(e.slot)
	t.rows[e.row] = row{}
	t.rfree = append(t.rfree, e.row)
	return true
}

func (t *table) releaseLocked(s int32) {
	t.slots[s].refs--
	if t.slots[s].refs == 0 {
		delete(t.index, t.slots[s].key)
		t.slots[s] = keySlot{}
		t.free = append(t.free, s)
	}
}

// len is the number of JIDs in the table.
func (t *table) len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.jids)
}

// each calls f for every JID whose key satisfies match, under the read
// lock; f must not call back into the table.
func (t *table) each(match func(hashing.Key) bool, f func(jid string, k hashing.Key)) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	ok := make([]bool, len(t.slots))
	for i := range t.slots {
		ok[i] = t.slots[i].refs > 0 && match(t.slots[i].key)
	}
	for _, e := range t.jids {
		if ok[e.slot] {
			f(t.rows[e.row].jid, t.slots[e.slot].key)
		}
	}
}
