package actors

import (
	"hash/maphash"
	"math/bits"
	"runtime"
	"sync"
	"sync/atomic"
	"weak"

	"github.com/capsengine/capsengine/hashing"
)

// infoSet is what the shards know between them: the verified disco#info
// of every key some shard's table keeps (keySlot.info), one copy each.
//
// A key popular enough is announced in every shard. Without the set, each
// shard meeting such a key for the first time after it was verified read
// it from the store — a pebble read and a decode whenever the hot cache,
// smaller than the verified keys, had let it go — and kept its own copy.
// Measured on the 300,000-document bench run, two runs each way: the heap
// after the warm pass is 306 MB with the set against 362 MB without, and
// the cold pass takes about 9% less CPU per presence.
//
// The set holds its infos weakly: an info no table keeps any more is
// collected and its entry goes with it, so the set is bounded by the infos
// the tables hold, not by the keys ever seen.
type infoSet struct {
	seed    maphash.Seed
	stripes [16]infoStripe
	// hint fronts the stripes for has, which firstContact asks about
	// every presence ingested: a four-way set-associative table of keyed
	// tags of keys the set holds, read from one cache line. Through get, each
	// warm presence took a contended read lock (two atomic adds on a
	// line both ingesting callers share), a map probe hashing and
	// comparing the 67-byte key, and a weak pointer's upgrade: the warm
	// pass ran at 510k–580k presences per CPU second against 620k–720k
	// before firstContact, and 620k–670k with the hint (three runs
	// each, alternating). The table is lossy both ways, and
	// either way is safe: a key that lost its place to another falls
	// back to get, and a stale or colliding tag only makes firstContact
	// leave a new key to its shard, as before firstContact existed.
	hint atomic.Pointer[hintTable]
	// n counts the entries; the hint has a place per entry at least
	// (hintMin at least), and grows or shrinks by halves with it.
	n atomic.Int64
}

// hintTable is one size of the hint: 1<<(64-shift) buckets of hintWays
// places. A direct-mapped table (one place per bucket) lost 30% of the
// keys it held to collisions once it was three quarters full, and a
// popular key evicted by another popular one took get's path on every
// presence. Four ways in one bucket share a cache line, and lose a key
// only when five of the keys held share its bucket. In the
// 300,000-document bench run's warm pass (two profiles each way,
// alternating), has took 0.31 and 0.32 s of CPU against 0.46 and 0.56,
// its trips to get 0.13 and 0.17 s against 0.32 and 0.36.
type hintTable struct {
	tags  []atomic.Uint32
	shift uint
}

// hintWays is the places in a bucket: 16 bytes, which never straddle a
// cache line, the table (hintMin places at least: 256 KiB) being a large
// allocation and so page-aligned.
const hintWays = 4

func newHintTable(places int) *hintTable {
	buckets := places / hintWays
	return &hintTable{tags: make([]atomic.Uint32, places), shift: uint(64 - bits.TrailingZeros(uint(buckets)))}
}

// bucket is the hint's bucket for hash h and the tag h has there (never 0,
// which marks an empty place): h's high bits pick the bucket, its low bits
// are the tag.
func (t *hintTable) bucket(h uint64) ([]atomic.Uint32, uint32) {
	b := int(h>>t.shift) * hintWays
	return t.tags[b : b+hintWays : b+hintWays], uint32(h) | 1
}

func (t *hintTable) has(h uint64) bool {
	ways, tag := t.bucket(h)
	for i := range ways {
		if ways[i].Load() == tag {
			return true
		}
	}
	return false
}

// put gives h a place in its bucket unless it has one: an empty place if
// there is one, else the one picked by h's bits between tag and bucket, so
// that keys sharing a full bucket evict one another at random rather than
// in order. Two racing puts can leave a tag twice or lose one: either only
// sends a has to get.
func (t *hintTable) put(h uint64) {
	if t.has(h) {
		return
	}
	ways, tag := t.bucket(h)
	for i := range ways {
		if ways[i].Load() == 0 && ways[i].CompareAndSwap(0, tag) {
			return
		}
	}
	ways[(h>>32)%hintWays].Store(tag)
}

// drop empties h's places, if h holds any.
func (t *hintTable) drop(h uint64) {
	ways, tag := t.bucket(h)
	for i := range ways {
		ways[i].CompareAndSwap(tag, 0)
	}
}

type infoStripe struct {
	mu sync.RWMutex // get, on every presence of a key its shard lacks, only reads
	m  map[hashing.Key]weak.Pointer[hashing.Info]
}

// hintMin is the hint's smallest size: room for the keys of a large
// network (tens of thousands) with few collisions, in 256 KiB. Tags are
// 32 bits, not the whole hash, to halve the lines the table spreads over:
// at 10 million presences and 50,000 keys, behind a JID index of 80 MB,
// has took 55 ns a presence more than at 2 million — its loads missed the
// caches. (Two pairs alternating measured the warm pass 1–3% cheaper: the
// direction, not the size.) A false tag, one in 2³² for a key not held,
// only leaves a new key to its shard.
//
// Past hintMin keys the table doubles, so that a crawler holding 100,000
// keys or more does not send most presences through get: a fixed table
// held one key per place at best, and firstContact's has took 340 ns a
// presence in the 300,000-document bench run (CPU profile).
const hintMin = 1 << 16

func newInfoSet() *infoSet {
	s := &infoSet{seed: maphash.MakeSeed()}
	for i := range s.stripes {
		s.stripes[i].m = make(map[hashing.Key]weak.Pointer[hashing.Info])
	}
	s.hint.Store(newHintTable(hintMin))
	return s
}

// hash is k's hash under the set's seed: its low bits pick its stripe,
// its high bits its place in the hint.
func (s *infoSet) hash(k hashing.Key) uint64 { return maphash.Comparable(s.seed, k) }

func (s *infoSet) stripe(h uint64) *infoStripe { return &s.stripes[h%uint64(len(s.stripes))] }

// resize doubles the hint once the entries outnumber its places, and
// halves it (not below hintMin) once they fall below an eighth of them.
// The new table starts empty and fills as has finds keys: until then they
// take get's path, as a key that lost its place does. Called without a
// stripe's lock: a new table is up to megabytes to allocate and clear.
func (s *infoSet) resize() {
	t := s.hint.Load()
	n, places := s.n.Load(), int64(len(t.tags))
	var want int64
	switch {
	case n > places:
		want = places * 2
	case places > hintMin && n < places/8:
		want = places / 2
	default:
		return
	}
	s.hint.CompareAndSwap(t, newHintTable(int(want)))
}

// get returns k's info if a table keeps it.
func (s *infoSet) get(k hashing.Key) *hashing.Info { return s.getHashed(k, s.hash(k)) }

func (s *infoSet) getHashed(k hashing.Key, h uint64) *hashing.Info {
	st := s.stripe(h)
	st.mu.RLock()
	wp, ok := st.m[k]
	st.mu.RUnlock()
	if ok {
		return wp.Value()
	}
	return nil
}

// has reports whether a table keeps k's info, mostly from the hint.
func (s *infoSet) has(k hashing.Key) bool {
	h := s.hash(k)
	t := s.hint.Load()
	if t.has(h) {
		return true
	}
	if s.getHashed(k, h) == nil {
		return false
	}
	t.put(h)
	return true
}

// canonical returns the copy of k's info the tables share: in, unless
// another copy is still alive.
func (s *infoSet) canonical(k hashing.Key, in *hashing.Info) *hashing.Info {
	h := s.hash(k)
	st := s.stripe(h)
	added := false
	defer func() { // after the unlock below
		if added {
			s.resize()
		}
	}()
	st.mu.Lock()
	defer st.mu.Unlock()
	wp, ok := st.m[k]
	if ok {
		if p := wp.Value(); p != nil {
			return p
		}
	} else {
		s.n.Add(1)
		added = true
	}
	st.m[k] = weak.Make(in)
	runtime.AddCleanup(in, s.forget, k)
	s.hint.Load().put(h)
	return in
}

// forget drops k's entry once its info has been collected, unless a newer
// copy took its place.
func (s *infoSet) forget(k hashing.Key) {
	h := s.hash(k)
	st := s.stripe(h)
	st.mu.Lock()
	wp, ok := st.m[k]
	gone := ok && wp.Value() == nil
	if gone {
		delete(st.m, k)
		s.hint.Load().drop(h)
		s.n.Add(-1)
	}
	st.mu.Unlock()
	if gone {
		s.resize()
	}
}

// len is the number of keys with an entry.
func (s *infoSet) len() int {
	n := 0
	for i := range s.stripes {
		st := &s.stripes[i]
		st.mu.Lock()
		n += len(st.m)
		st.mu.Unlock()
	}
	return n
}
