package actors

import (
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
	mu    sync.RWMutex
	jids  map[string]int32 // full JID → slot
	slots []keySlot
	index map[hashing.Key]int32
	free  []int32
}

type keySlot struct {
	key  hashing.Key
	refs int32
}

func newTable() *table {
	return &table{jids: make(map[string]int32), index: make(map[hashing.Key]int32)}
}

// get returns the key jid announced last.
func (t *table) get(jid string) (hashing.Key, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	s, ok := t.jids[jid]
	if !ok {
		return hashing.Key{}, false
	}
	return t.slots[s].key, true
}

// setLocked records that jid announced k and reports whether jid is new.
func (t *table) setLocked(jid string, k hashing.Key) (isNew bool) {
	old, had := t.jids[jid]
	if had && t.slots[old].key == k {
		return false
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
	t.jids[jid] = s
	if had {
		t.releaseLocked(old)
	}
	return !had
}

// removeLocked forgets jid and reports whether it was known.
func (t *table) removeLocked(jid string) bool {
	s, ok := t.jids[jid]
	if !ok {
		return false
	}
	delete(t.jids, jid)
	t.releaseLocked(s)
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
	for jid, s := range t.jids {
		if ok[s] {
			f(jid, t.slots[s].key)
		}
	}
}
