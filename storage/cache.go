package storage

import (
	"hash/maphash"

	"github.com/dgraph-io/ristretto/v2"

	"github.com/capsengine/capsengine/hashing"
)

// hotCache is the ristretto cache in front of both stores. It is advisory:
// a Set may be dropped and is visible only after ristretto applies it, so
// every miss falls through to pebble, which is the truth.
//
// Entries are keyed by a seeded 64-bit hash of the Key; the cached value
// carries the Key itself and a hit counts only when it matches, so a hash
// collision costs a miss, never a wrong answer. The seed is random per
// process, so peers cannot aim collisions at a popular key.
//
// A nil *hotCache is a disabled cache.
type hotCache struct {
	seed maphash.Seed
	c    *ristretto.Cache[uint64, *cached]
}

type cached struct {
	key   hashing.Key
	entry *Entry
	src   Source
}

func newHotCache(maxCost int64) (*hotCache, error) {
	if maxCost <= 0 {
		return nil, nil
	}
	// ristretto wants ~10 counters per item it may hold; a typical entry
	// costs ~1.5 KiB (see cost), so items ≈ maxCost/1536.
	counters := max(maxCost/150, 1000)
	c, err := ristretto.NewCache(&ristretto.Config[uint64, *cached]{
		NumCounters: counters,
		MaxCost:     maxCost,
		BufferItems: 64,
		Metrics:     true,
	})
	if err != nil {
		return nil, err
	}
	return &hotCache{seed: maphash.MakeSeed(), c: c}, nil
}

func (h *hotCache) hash(k hashing.Key) uint64 { return maphash.Comparable(h.seed, k) }

func (h *hotCache) get(k hashing.Key) (*cached, bool) {
	if h == nil {
		return nil, false
	}
	v, ok := h.c.Get(h.hash(k))
	if !ok || v.key != k {
		return nil, false
	}
	return v, true
}

// set offers an entry whose encoding is n bytes long. It may be dropped.
func (h *hotCache) set(k hashing.Key, e *Entry, src Source, n int) {
	if h == nil {
		return
	}
	h.c.Set(h.hash(k), &cached{key: k, entry: e, src: src}, cost(n))
}

func (h *hotCache) del(k hashing.Key) {
	if h == nil {
		return
	}
	h.c.Del(h.hash(k))
}

// wait blocks until earlier sets are visible (ristretto's Wait).
func (h *hotCache) wait() {
	if h != nil {
		h.c.Wait()
	}
}

func (h *hotCache) close() {
	if h != nil {
		h.c.Close()
	}
}

type cacheStats struct {
	hits, misses  uint64
	used, maxCost int64
}

func (h *hotCache) stats() cacheStats {
	if h == nil {
		return cacheStats{}
	}
	m := h.c.Metrics
	return cacheStats{
		hits:    m.Hits(),
		misses:  m.Misses(),
		used:    h.c.MaxCost() - h.c.RemainingCost(),
		maxCost: h.c.MaxCost(),
	}
}
