package actors

import (
	"hash/maphash"
	"sync"

	"github.com/capsengine/capsengine/hashing"
)

// keySet is the set of keys with a live lookup, read by the ingest shards
// on every presence whose key is not known yet: such a presence goes
// straight to the router instead of asking the store first. During a cold
// flood most presences carry keys already being looked up, and the store's
// answer for them (a miss, after a pebble read) was most of the cold
// path's cost. Sharded, so that shards and the router rarely meet on a
// lock.
type keySet struct {
	seed   maphash.Seed
	shards [16]struct {
		mu sync.RWMutex
		m  map[hashing.Key]struct{}
	}
}

func newKeySet() *keySet {
	s := &keySet{seed: maphash.MakeSeed()}
	for i := range s.shards {
		s.shards[i].m = make(map[hashing.Key]struct{})
	}
	return s
}

func (s *keySet) shard(k hashing.Key) int {
	return int(maphash.Comparable(s.seed, k) % uint64(len(s.shards)))
}

func (s *keySet) add(k hashing.Key) {
	sh := &s.shards[s.shard(k)]
	sh.mu.Lock()
	sh.m[k] = struct{}{}
	sh.mu.Unlock()
}

func (s *keySet) remove(k hashing.Key) {
	sh := &s.shards[s.shard(k)]
	sh.mu.Lock()
	delete(sh.m, k)
	sh.mu.Unlock()
}

func (s *keySet) has(k hashing.Key) bool {
	sh := &s.shards[s.shard(k)]
	sh.mu.RLock()
	_, ok := sh.m[k]
	sh.mu.RUnlock()
	return ok
}
