package actors

import (
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
	// jids maps a full JID to its row in rows, which holds the JID's key
	// slot. The indirection lets a JID change key without assigning to the
	// map: Go replaces a string key on assignment, and the caller's string
	// may point into a batch arena that must not be pinned.
	jids  map[string]int32
	rows  []int32
	rfree []int32
	slots []keySlot
	index map[hashing.Key]int32
	free  []int32
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
	return &table{jids: make(map[string]int32), index: make(map[hashing.Key]int32)}
}

// get returns the key jid announced last.
func (t *table) get(jid string) (hashing.Key, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	row, ok := t.jids[jid]
	if !ok {
		return hashing.Key{}, false
	}
	return t.slots[t.rows[row]].key, true
}

// setLocked records that jid announced k and returns k's slot. jid may
// point into a shared arena: the table keeps its own copy.
func (t *table) setLocked(jid string, k hashing.Key) int32 {
	row, had := t.jids[jid]
	if had && t.slots[t.rows[row]].key == k {
		return t.rows[row]
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
		old := t.rows[row]
		t.rows[row] = s
		t.releaseLocked(old)
		return s
	}
	if n := len(t.rfree); n > 0 {
		row, t.rfree = t.rfree[n-1], t.rfree[:n-1]
		t.rows[row] = s
	} else {
		row = int32(len(t.rows))
		t.rows = append(t.rows, s)
	}
	t.jids[strings.Clone(jid)] = row
	return s
}

// removeLocked forgets jid and reports whether it was known.
func (t *table) removeLocked(jid string) bool {
	row, ok := t.jids[jid]
	if !ok {
		return false
	}
	delete(t.jids, jid)
	t.releaseLocked(t.rows[row])
	t.rfree = append(t.rfree, row)
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
	for jid, row := range t.jids {
		if s := t.rows[row]; ok[s] {
			f(jid, t.slots[s].key)
		}
	}
}
