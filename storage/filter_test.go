package storage

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bits-and-blooms/bloom/v3"
	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/sstable/block"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/capsengine/capsengine/hashing"
)

// smallFilters makes filters rebuild after a few dozen writes, so a test
// goes through many builds.
func smallFilters(t *testing.T, n int) {
	old := minFilterKeys
	minFilterKeys = n
	t.Cleanup(func() { minFilterKeys = old })
}

// waitBuilds waits until the DB's filters have been built n times.
func waitBuilds(t *testing.T, db *DB, n uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for db.Stats().FilterBuilds < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d filter builds, want %d", db.Stats().FilterBuilds, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestKeyFilterNeverHidesAKey: while writers put keys and the filter is
// rebuilt again and again under them, every key whose Put returned is
// found at once, and keys never stored are answered by the filter.
func TestKeyFilterNeverHidesAKey(t *testing.T) {
	smallFilters(t, 32)
	ctx := context.Background()
	db := openTest(t, nil, Config{CacheBytes: -1})
	waitBuilds(t, db, 1)

	const writers, each = 8, 150
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				k, e := testEntry(t, w*each+i)
				if err := db.Put(ctx, k, e); err != nil {
					t.Error(err)
					return
				}
				if _, err := db.Get(k); err != nil {
					t.Errorf("key %d right after its Put: %v", w*each+i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	for i := range writers * each {
		k, _ := testEntry(t, i)
		if _, err := db.Get(k); err != nil {
			t.Fatalf("key %d: %v", i, err)
		}
	}
	waitIdle(t, db)
	s := db.Stats()
	if s.FilterBuilds < 2 {
		t.Errorf("%d filter builds for %d keys at a minimum of %d: the filter did not follow the store", s.FilterBuilds, writers*each, minFilterKeys)
	}
	f := db.user.filter
	f.mu.RLock()
	if f.changed > f.headroom {
		t.Errorf("idle filter built with %d keys, %d changes since against a headroom of %d", f.built, f.changed, f.headroom)
	}
	f.mu.RUnlock()
	before := s.Filtered
	const absent = 1000
	for i := range absent {
		k, _ := testEntry(t, 1_000_000+i)
		if _, err := db.Get(k); !errors.Is(err, ErrNotFound) {
			t.Fatalf("absent key: %v", err)
		}
	}
	// The filter answers all but its false positives (1% when full).
	got := db.Stats().Filtered - before
	if got < absent*9/10 {
		t.Errorf("the filter answered %d of %d reads of absent keys", got, absent)
	}
}

// waitIdle waits for the user store's filter to have no build under way.
func waitIdle(t *testing.T, db *DB) {
	t.Helper()
	f := db.user.filter
	deadline := time.Now().Add(10 * time.Second)
	for {
		f.mu.RLock()
		busy := f.building
		f.mu.RUnlock()
		if !busy {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the filter build does not end")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestKeyFilterFollowsTheStore: the filter is sized by the keys stored,
// not by the keys ever written: after most keys are deleted, a rebuild
// makes it small again.
func TestKeyFilterFollowsTheStore(t *testing.T) {
	smallFilters(t, 16)
	ctx := context.Background()
	db := openTest(t, nil, Config{CacheBytes: -1})
	const n = 2000
	putEntries(t, db, n)
	waitIdle(t, db)
	capAt := func() uint {
		db.user.filter.mu.RLock()
		defer db.user.filter.mu.RUnlock()
		return db.user.filter.cur.Cap()
	}
	full := capAt()
	for i := range n - 10 {
		k, _ := testEntry(t, i)
		if err := db.Delete(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	waitIdle(t, db)
	if small := capAt(); small*10 > full {
		t.Errorf("filter of %d bits after deleting all but 10 of %d keys, %d bits when all were there", small, n, full)
	}
	for i := n - 10; i < n; i++ {
		k, _ := testEntry(t, i)
		if _, err := db.Get(k); err != nil {
			t.Errorf("kept key %d: %v", i, err)
		}
	}
}

// TestKeyFilterAcrossReopen: keys stored before Open are found before
// the first build is done (no filter yet) and after it.
func TestKeyFilterAcrossReopen(t *testing.T) {
	ctx := context.Background()
	fs := vfs.NewMem()
	db := openTest(t, fs, Config{CacheBytes: -1})
	const n = 300
	putEntries(t, db, n)
	if err := db.Close(ctx); err != nil {
		t.Fatal(err)
	}
	db = openTest(t, fs, Config{CacheBytes: -1})
	for i := range n {
		k, _ := testEntry(t, i)
		if _, err := db.Get(k); err != nil {
			t.Fatalf("key %d after reopen: %v", i, err)
		}
	}
	waitBuilds(t, db, 1)
	for i := range n {
		k, _ := testEntry(t, i)
		if _, err := db.Get(k); err != nil {
			t.Fatalf("key %d after the filter's build: %v", i, err)
		}
	}
	if err := db.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if s := db.Stats(); s.FilterBuilds == 0 || s.Filtered != 0 {
		t.Errorf("stats after Close: %+v (no absent key was read)", s)
	}
}

// TestStoreKeysSegments: the walk that builds the filter sees every key
// once across its segments.
func TestStoreKeysSegments(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, nil, Config{CacheBytes: -1})
	const n = 2*keysSegment + 17
	want := map[string]bool{}
	var kb keyBuf
	for i := range n {
		k, e := testEntry(t, i)
		if err := db.Put(ctx, k, e); err != nil {
			t.Fatal(err)
		}
		want[string(kb.of(k))] = true
	}
	seen := map[string]int{}
	got, err := db.user.keys(ctx, func(kk []byte) { seen[string(kk)]++ })
	if err != nil || got != n {
		t.Fatalf("keys: %d, %v; want %d", got, err, n)
	}
	for k, c := range seen {
		if c != 1 || !want[k] {
			t.Fatalf("key %x seen %d times, stored %v", k, c, want[k])
		}
	}
	if len(seen) != n {
		t.Errorf("%d distinct keys seen, %d stored", len(seen), n)
	}
}

// TestKeyFilterBounded: past maxFilterKeys the filter stops growing, and
// still never hides a stored key.
func TestKeyFilterBounded(t *testing.T) {
	smallFilters(t, 16)
	old := maxFilterKeys
	maxFilterKeys = 64
	t.Cleanup(func() { maxFilterKeys = old })
	db := openTest(t, nil, Config{CacheBytes: -1})
	const n = 600
	putEntries(t, db, n)
	waitIdle(t, db)
	f := db.user.filter
	f.mu.RLock()
	bits, builds := f.cur.Cap(), db.Stats().FilterBuilds
	f.mu.RUnlock()
	if limit := bloomBits(64); bits > limit {
		t.Errorf("filter of %d bits for %d keys, the bound is %d", bits, n, limit)
	}
	if builds > 40 {
		t.Errorf("%d builds for %d keys: a full filter is rebuilt after every change", builds, n)
	}
	for i := range n {
		k, _ := testEntry(t, i)
		if _, err := db.Get(k); err != nil {
			t.Fatalf("key %d: %v", i, err)
		}
	}
}

// TestFilterSizes holds maxFilterKeys to what its comment promises: at
// most 2.4 MiB, and the share of absent keys let through as the store
// grows past it.
func TestFilterSizes(t *testing.T) {
	m, k := bloom.EstimateParameters(filterSize(1<<30), filterFalseRate)
	if mib := float64(m) / 8 / (1 << 20); mib > 2.4 {
		t.Errorf("the largest filter takes %.2f MiB", mib)
	}
	for _, tc := range []struct {
		keys uint
		most float64
	}{{1 << 20, 0.011}, {2_300_000, 0.016}, {4_000_000, 0.14}} {
		if fp := bloom.EstimateFalsePositiveRate(m, k, tc.keys); fp > tc.most {
			t.Errorf("at %d stored keys %.3f of absent keys pass, more than %.3f", tc.keys, fp, tc.most)
		}
	}
}

// bloomBits is the size of a filter made for n keys.
func bloomBits(n int) uint {
	m, _ := bloom.EstimateParameters(uint(n), filterFalseRate)
	return m
}

// putEntries puts testEntry 0 to n-1.
func putEntries(t *testing.T, db *DB, n int) {
	t.Helper()
	for i := range n {
		k, e := testEntry(t, i)
		if err := db.Put(context.Background(), k, e); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPutSetsNewKeys: once the filter is built, a put of a key it knows
// is not stored is a pebble set (no merge operator on its reads), and a
// put of a stored key still merges with it, keeping what both said (a set
// would keep only the second's nodes). pebble's internal scan refuses
// merge records, so only the set is looked at directly.
func TestPutSetsNewKeys(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, nil, Config{CacheBytes: -1})
	waitBuilds(t, db, 1)
	kinds := func(k hashing.Key) []pebble.InternalKeyKind {
		t.Helper()
		var kb keyBuf
		key := kb.of(k)
		var out []pebble.InternalKeyKind
		err := db.user.db.ScanInternal(ctx, block.CategoryUnknown, key, append(slices.Clone(key), 0),
			func(ik *pebble.InternalKey, _ pebble.LazyValue, _ pebble.IteratorLevel) error {
				out = append(out, ik.Kind())
				return nil
			}, nil, nil, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	k, e := testEntry(t, 1)
	if err := db.Put(ctx, k, e); err != nil {
		t.Fatal(err)
	}
	if got := kinds(k); !slices.Equal(got, []pebble.InternalKeyKind{pebble.InternalKeyKindSet}) {
		t.Errorf("a new key is written as %v, want a set", got)
	}
	again := &Entry{Info: e.Info, Nodes: []string{"http://other.example"}}
	if err := db.Put(ctx, k, again); err != nil {
		t.Fatal(err)
	}
	got, err := db.Get(k)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{e.Nodes[0], "http://other.example"}; !slices.Equal(got.Nodes, want) {
		t.Errorf("nodes %q after two puts, want %q", got.Nodes, want)
	}
}
