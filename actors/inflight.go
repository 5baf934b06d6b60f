package actors

import (
	"hash/maphash"
	"sync"
	"sync/atomic"

	"github.com/capsengine/capsengine/hashing"
)

// keySet counts, per key, the lookups running for it and the requests for
// it on their way from a shard to the router. The ingest shards read it on
// every presence whose key is not known yet: a key it holds goes straight
// to the router instead of asking the store first. During a cold flood
// most presences carry keys already being looked up or asked for, and the
// store's answer for them (a miss, after a pebble read) was most of the
// cold path's cost. Counting the requests in flight too closes the window
// between a key's first presence and its lookup's start, in which every
// other presence of the key read the store as well. Sharded, so that
// shards and the router rarely meet on a lock; a key leaves the map when
// its count falls to 0, so it holds only what is in flight.
type keySet struct {
	seed   maphash.Seed
	shards [16]struct {
		mu sync.RWMutex
		m  map[hashing.Key]int32
		// early holds the query an ingesting caller sent when it claimed
		// the key (claim), until the router starts the key's lookup and
		// hands it over (takeEarly).
		early map[hashing.Key]*earlyQuery
	}
}

func newKeySet() *keySet {
	s := &keySet{seed: maphash.MakeSeed()}
	for i := range s.shards {
		s.shards[i].m = make(map[hashing.Key]int32)
	}
	return s
}

func (s *keySet) shard(k hashing.Key) int {
	return int(maphash.Comparable(s.seed, k) % uint64(len(s.shards)))
}

func (s *keySet) add(k hashing.Key) {
	sh := &s.shards[s.shard(k)]
	sh.mu.Lock()
	sh.m[k]++
	sh.mu.Unlock()
}

// remove undoes one add.
func (s *keySet) remove(k hashing.Key) {
	sh := &s.shards[s.shard(k)]
	sh.mu.Lock()
	if n := sh.m[k] - 1; n > 0 {
		sh.m[k] = n
	} else {
		delete(sh.m, k)
	}
	sh.mu.Unlock()
}

// claim adds k as add does, but only when nothing holds k yet: no lookup
// runs for it and no request for it is on its way. The caller is then the
// key's first contact in the whole engine, and q, the query it is about to
// send, becomes the first query of the lookup the router starts for k
// next, whichever request starts it.
//
// missed is the writes stamp the caller took before its store read
// missed k: the claim is refused when k may have been written since. A
// whole lookup can run between that read and the claim — another caller
// claims, asks, stores and its lookup ends while this one is descheduled
// (a loaded host, the race detector) — and then nothing holds k any more,
// yet it is known: the claim would ask for it a second time. A lookup
// writes before it ends, and it ends before its count leaves this set, so
// under the shard's lock its write is seen here.
func (s *keySet) claim(k hashing.Key, q *earlyQuery, w *storeWrites, missed uint64) bool {
	sh := &s.shards[s.shard(k)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.m[k] > 0 || sh.early[k] != nil {
		// A claimed query may outlive its count: its request parked at
		// the router, at MaxLookups, is no longer counted.
		return false
	}
	if !w.unchanged(k, missed) {
		return false
	}
	sh.m[k] = 1
	if sh.early == nil {
		sh.early = make(map[hashing.Key]*earlyQuery)
	}
	sh.early[k] = q
	return true
}

// takeEarly removes and returns k's claimed query, nil if there is none.
func (s *keySet) takeEarly(k hashing.Key) *earlyQuery {
	sh := &s.shards[s.shard(k)]
	sh.mu.Lock()
	q := sh.early[k]
	delete(sh.early, k)
	sh.mu.Unlock()
	return q
}

// earlyOf is k's claimed query not taken yet, or nil.
func (s *keySet) earlyOf(k hashing.Key) *earlyQuery {
	sh := &s.shards[s.shard(k)]
	sh.mu.RLock()
	q := sh.early[k]
	sh.mu.RUnlock()
	return q
}

func (s *keySet) has(k hashing.Key) bool {
	sh := &s.shards[s.shard(k)]
	sh.mu.RLock()
	_, ok := sh.m[k]
	if !ok {
		_, ok = sh.early[k]
	}
	sh.mu.RUnlock()
	return ok
}

// len is the number of keys held.
func (s *keySet) len() int {
	n, _ := s.sizes()
	return n
}

// sizes is the number of keys held and of claimed queries not taken yet.
func (s *keySet) sizes() (keys, early int) {
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.RLock()
		keys += len(sh.m)
		early += len(sh.early)
		sh.mu.RUnlock()
	}
	return keys, early
}

// storeWrites counts, per bucket of keys, the writes of those keys to the
// store. A reader that saw a bucket's count before a store miss knows the
// miss still holds while the count is unchanged: no key of the bucket —
// so not its key — was written since. A new lookup uses it to skip the
// store read its shard has just made; during a cold flood that second
// miss per new key was half the CPU of the engine's store reads (2.2 of
// 4.5 s in a 300,000-key cold pass's profile).
//
// 65,536 buckets (256 KiB): at the thousands of keys verified per second
// of a cold flood (6,000 here), a bucket changes about every ten seconds,
// far less often than a request takes from shard to lookup.
type storeWrites struct {
	seed maphash.Seed
	n    [1 << 16]atomic.Uint32
}

func newStoreWrites() *storeWrites { return &storeWrites{seed: maphash.MakeSeed()} }

func (w *storeWrites) bucket(k hashing.Key) *atomic.Uint32 {
	return &w.n[maphash.Comparable(w.seed, k)&(1<<16-1)]
}

// stamp is what a reader records before reading the store for k: never 0,
// so that 0 can mean "not read".
func (w *storeWrites) stamp(k hashing.Key) uint64 { return uint64(w.bucket(k).Load()) + 1 }

// unchanged reports whether no key of k's bucket was written since stamp.
func (w *storeWrites) unchanged(k hashing.Key, stamp uint64) bool {
	return stamp != 0 && stamp == w.stamp(k)
}

// wrote records a write of k, once the store serves it.
func (w *storeWrites) wrote(k hashing.Key) { w.bucket(k).Add(1) }
