package storage

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/bits-and-blooms/bloom/v3"
)

// keyFilter tells that a key is certainly not in a store without asking
// pebble. The store's most common read is a key never stored (a new
// client's first presence), and pebble answers such a miss by searching
// its memtables' skiplists and probing a filter per level: about 10 µs of
// CPU under a cold flood, 6% of the 300,000-document cold pass. A Bloom
// filter over the store's keys answers 99% of those misses in well under
// a microsecond.
//
// The filter answers "maybe" to everything until its first build, a scan
// of the store's keys in the background, is done. Writes add their keys
// before they commit, to the filter and to one being built, so a key
// committed is never reported absent. The filter is built again, sized
// for the keys stored then, once the keys written or deleted since the
// last build fill its headroom: its size follows the keys stored, not the
// keys ever written, and deleted keys do not wear it into answering
// "maybe" to everything. It takes 1.2 to 2.4 bytes a stored key (room for
// twice the keys at 9.6 bits each), twice that during a build, and at
// most maxFilterKeys' worth.
type keyFilter struct {
	mu       sync.RWMutex
	cur      *bloom.BloomFilter // nil until the first build is done
	next     *bloom.BloomFilter // being built: writes go to it too
	headroom int                // changes cur takes before a rebuild
	built    int                // keys cur was built with
	changed  int                // keys written or deleted since cur's build began
	removed  int                // of them, deleted
	// writing is held from a commit's first add to its end, and by a
	// build while it makes its filter the one writes also go to: a key
	// added before that moment is committed before the build's walk
	// begins, and so is in the walk.
	writing  sync.Mutex
	scan     func(ctx context.Context, fn func(key []byte)) (int, error)
	log      *slog.Logger
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	builds   atomic.Uint64 // builds done
	filtered atomic.Uint64 // reads answered "absent"
	building bool          // guarded by mu
}

// filterFalseRate is the share of absent keys the filter lets through to
// pebble when full: 1% takes 9.6 bits a key.
const filterFalseRate = 0.01

// minFilterKeys is the least a filter is sized for, so that a new store is
// not rebuilt after every few writes (a variable for tests).
var minFilterKeys = 1 << 16

// maxFilterKeys is the most a filter is sized for: 2.4 MiB, with full
// accuracy up to a million stored keys. Past that the filter lets more
// absent keys through to pebble (1.5% at 2.3 million keys, 13% at 4
// million: TestFilterSizes), and still never hides a stored one: its
// memory is bounded by this, not by the store, which a soak past millions
// of keys showed to matter (a variable for tests).
var maxFilterKeys = 1 << 21

// filterSize is the capacity a filter is made with for n stored keys:
// room for as many again, within [minFilterKeys, maxFilterKeys].
func filterSize(n int) uint { return uint(min(max(2*n, minFilterKeys), maxFilterKeys)) }

// newKeyFilter starts the first build of a filter over the keys scan
// walks. scan calls fn with each key (which fn may not keep) and returns
// how many it walked.
func newKeyFilter(scan func(ctx context.Context, fn func(key []byte)) (int, error), log *slog.Logger) *keyFilter {
	ctx, cancel := context.WithCancel(context.Background())
	f := &keyFilter{scan: scan, log: log, ctx: ctx, cancel: cancel}
	f.mu.Lock()
	f.startLocked()
	f.mu.Unlock()
	return f
}

// mayHave is false only when key is certainly not stored.
func (f *keyFilter) mayHave(key []byte) bool {
	f.mu.RLock()
	cur := f.cur
	ok := cur == nil || cur.Test(key)
	f.mu.RUnlock()
	if !ok {
		f.filtered.Add(1)
	}
	return ok
}

// beginWrite and endWrite bracket a commit: its adds, then the commit.
func (f *keyFilter) beginWrite() { f.writing.Lock() }
func (f *keyFilter) endWrite()   { f.writing.Unlock() }

// add notes a key about to be committed, between beginWrite and
// endWrite. It reports whether the key was certainly not stored until
// now: false until the first build is done, and for a key the filter
// holds or confuses with one it holds.
func (f *keyFilter) add(key []byte) (absent bool) {
	f.mu.Lock()
	if f.cur != nil {
		absent = !f.cur.TestAndAdd(key)
	}
	if f.next != nil {
		f.next.Add(key)
	}
	f.changedLocked(1)
	f.mu.Unlock()
	return absent
}

// deleted notes n keys deleted: a Bloom filter cannot forget a key, so
// deletes only bring the next build closer.
func (f *keyFilter) deleted(n int) {
	if n == 0 {
		return
	}
	f.mu.Lock()
	f.removed += n
	f.changedLocked(n)
	f.mu.Unlock()
}

// changedLocked counts n changes and starts a build when they fill the
// headroom, or when deletes took half the keys the filter was built
// with (so that it shrinks with the store, not one headroom later).
func (f *keyFilter) changedLocked(n int) {
	f.changed += n
	if f.cur != nil && (f.changed > f.headroom || 2*f.removed > f.built) {
		f.startLocked()
	}
}

// startLocked starts a build unless one is under way or the filter is
// stopped.
func (f *keyFilter) startLocked() {
	if f.building || f.ctx.Err() != nil {
		return
	}
	f.building = true
	f.wg.Add(1)
	go f.build()
}

// build makes a filter with room for twice the keys stored and fills it
// in a walk of the store; writes meanwhile go to it as well. A key
// deleted during the walk may stay in it: the filter may say "maybe" for
// a key that is gone, never "absent" for one that is there.
func (f *keyFilter) build() {
	defer f.wg.Done()
	oversized := false
	// The keys stored now: counted by a walk the first time, and after
	// that reckoned from the last build's count and the changes since
	// (puts of keys already stored make it high, which only sizes the
	// filter more generously), saving a walk of the whole store.
	f.mu.RLock()
	n, known := f.built+f.changed-2*f.removed, f.cur != nil
	f.mu.RUnlock()
	var err error
	if !known {
		n, err = f.scan(f.ctx, func([]byte) {})
	}
	if err == nil {
		capacity := filterSize(n)
		next := bloom.NewWithEstimates(capacity, filterFalseRate)
		f.writing.Lock()
		f.mu.Lock()
		f.next, f.changed, f.removed = next, 0, 0
		f.mu.Unlock()
		f.writing.Unlock()
		// Keys are added a chunk per hold of the lock, copied into one
		// buffer: the walk's key is only valid until its next step.
		const chunk = 1024
		var buf []byte
		var ends []int
		flush := func() {
			f.mu.Lock()
			start := 0
			for _, end := range ends {
				next.Add(buf[start:end])
				start = end
			}
			f.mu.Unlock()
			buf, ends = buf[:0], ends[:0]
		}
		// The walk's own count is the one the filter was built with:
		// deletes between the two walks are in neither it nor removed.
		n, err = f.scan(f.ctx, func(k []byte) {
			buf = append(buf, k...)
			ends = append(ends, len(buf))
			if len(ends) == chunk {
				flush()
			}
		})
		flush()
		if err == nil {
			f.mu.Lock()
			f.cur, f.next = next, nil
			// A full filter cannot grow; it is rebuilt only to forget
			// deleted keys, after half its capacity of changes.
			f.headroom, f.built = max(int(capacity)-n, int(capacity)/2), n
			f.mu.Unlock()
			f.builds.Add(1)
			// Sized by a count taken before the walk: when deletes
			// meanwhile left far fewer keys, build again, smaller.
			oversized = capacity > 2*filterSize(n)
		}
	}
	f.mu.Lock()
	f.next, f.building = nil, false
	if oversized {
		f.startLocked()
	} else if err == nil {
		// Writes that came during the build may have used up its
		// headroom.
		f.changedLocked(0)
	}
	f.mu.Unlock()
	if err != nil && f.ctx.Err() == nil {
		// Reads go on to pebble, which reports the damage itself.
		f.log.Warn("storage: building the key filter", "err", err)
	}
}

// stop ends a build under way and waits for it; the store may then close.
func (f *keyFilter) stop() {
	f.cancel()
	f.wg.Wait()
}
