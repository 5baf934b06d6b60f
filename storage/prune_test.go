package storage

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/capsengine/capsengine/hashing"
)

// fakeClock is Config.Now for tests that age a store.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: testTime} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

const day = 24 * time.Hour

func putN(t *testing.T, db *DB, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		k, e := testEntry(t, i)
		if err := db.Put(context.Background(), k, e); err != nil {
			t.Fatalf("Put %d: %v", i, err)
		}
	}
}

func present(t *testing.T, db *DB, i int) bool {
	t.Helper()
	k, _ := testEntry(t, i)
	_, err := db.Get(k)
	if err != nil && !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get %d: %v", i, err)
	}
	return err == nil
}

// TestPruneByAge ages a store with a fake clock: entries not seen for
// Retain go, entries seen again since stay, and so does an old entry that
// InUse reports; a dry run deletes nothing.
func TestPruneByAge(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	inUseKey, _ := testEntry(t, 7)
	db := openTest(t, nil, Config{
		Now: clock.Now, Retain: 30 * day, PruneEvery: -1, CacheBytes: -1,
		InUse: func(k hashing.Key) bool { return k == inUseKey },
	})
	putN(t, db, 0, 10)
	clock.advance(20 * day)
	putN(t, db, 10, 20)
	putN(t, db, 0, 5) // seen again: LastSeen moves to day 20
	clock.advance(15 * day)

	dry, err := db.Prune(ctx, PruneOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if dry.ByAge != 4 || dry.BySize != 0 || dry.InUse != 1 || dry.Scanned != 20 {
		t.Errorf("dry run: %+v, want 4 by age, 1 in use, 20 scanned", dry)
	}
	for i := range 20 {
		if !present(t, db, i) {
			t.Fatalf("entry %d gone after a dry run", i)
		}
	}

	res, err := db.Prune(ctx, PruneOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.ByAge != 4 || res.Bytes != dry.Bytes || res.LiveBytes != dry.LiveBytes {
		t.Errorf("prune: %+v, want what the dry run said: %+v", res, dry)
	}
	for i := range 20 {
		want := i < 5 || i == 7 || i >= 10
		if got := present(t, db, i); got != want {
			t.Errorf("entry %d present = %v, want %v", i, got, want)
		}
	}
	if s := db.Stats(); s.PrunedEntries != 4 || s.PrunedBytes != uint64(res.Bytes) {
		t.Errorf("stats: pruned %d entries, %d bytes; want 4, %d", s.PrunedEntries, s.PrunedBytes, res.Bytes)
	}
	// The options override the Config: a longer retention prunes nothing.
	if res, err := db.Prune(ctx, PruneOptions{Retain: 365 * day}); err != nil || res.Pruned() != 0 {
		t.Errorf("prune with a year's retention: %+v, %v", res, err)
	}
}

// TestPruneSkipsEntrySeenAgain: a prune's delete is conditional; an entry
// seen again after the pass read it is kept.
func TestPruneSkipsEntrySeenAgain(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	db := openTest(t, nil, Config{Now: clock.Now, PruneEvery: -1})
	putN(t, db, 0, 2)
	old := clock.Now()
	clock.advance(day)
	putN(t, db, 0, 1) // entry 0 seen again after "the pass read it"
	k0, _ := testEntry(t, 0)
	k1, _ := testEntry(t, 1)
	skipped, _, err := db.pruneDelete(ctx, []pruneCandidate{{key: k0, lastSeen: old, size: 1}, {key: k1, lastSeen: old, size: 1}})
	if err != nil || skipped != 1 {
		t.Fatalf("pruneDelete: %d skipped, %v; want 1", skipped, err)
	}
	if !present(t, db, 0) || present(t, db, 1) {
		t.Errorf("entry 0 (seen again) present = %v, entry 1 present = %v; want true, false", present(t, db, 0), present(t, db, 1))
	}
}

// TestPruneBySizeWhileWriting writes four times MaxBytes of new entries,
// with no periodic pass due: the writer's kicks make the pruner keep the
// store near its cap while it grows, least recently seen first.
func TestPruneBySizeWhileWriting(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	const maxBytes = 64 << 10
	db := openTest(t, nil, Config{Now: clock.Now, MaxBytes: maxBytes, PruneEvery: time.Hour, CacheBytes: -1})
	n := 0
	for {
		res, err := db.Prune(ctx, PruneOptions{DryRun: true, MaxBytes: 1 << 40})
		if err != nil {
			t.Fatal(err)
		}
		if db.Stats().Committed*uint64(res.ScannedBytes)/uint64(max(res.Scanned, 1)) > 4*maxBytes {
			break
		}
		putN(t, db, n, n+50)
		n += 50
		clock.advance(time.Minute)
	}
	// Wait for the pruner's last kicked pass, without calling Prune.
	deadline := time.Now().Add(20 * time.Second)
	var live PruneResult
	for {
		var err error
		live, err = db.Prune(ctx, PruneOptions{DryRun: true, MaxBytes: 1 << 40})
		if err != nil {
			t.Fatal(err)
		}
		if live.ScannedBytes <= maxBytes+maxBytes/4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("store at %d bytes after writing %d entries, cap %d: the pruner did not keep up", live.ScannedBytes, n, maxBytes)
		}
		time.Sleep(10 * time.Millisecond)
	}
	s := db.Stats()
	if s.PrunedEntries == 0 {
		t.Fatalf("nothing pruned")
	}
	// Least recently seen first: the newest entries are all there, the
	// oldest gone.
	if present(t, db, 0) || !present(t, db, n-1) {
		t.Errorf("oldest entry present = %v, newest present = %v; want false, true", present(t, db, 0), present(t, db, n-1))
	}
	t.Logf("wrote %d entries; pruner deleted %d (%d bytes) on its own; %d entries, %d bytes live (cap %d)",
		n, s.PrunedEntries, s.PrunedBytes, live.Scanned, live.ScannedBytes, maxBytes)
}

// TestPruneYearOfChurn simulates a year, a day at a time, of a server's
// churn: each day new vers appear (updates, new clients) and a few popular
// ones are seen again, and the daily pass runs. The store stays under its
// cap every day, the popular entries and one InUse entry never seen again
// survive, and entries past retention go.
func TestPruneYearOfChurn(t *testing.T) {
	if testing.Short() {
		t.Skip("a year of writes")
	}
	ctx := context.Background()
	clock := newFakeClock()
	const maxBytes = 96 << 10
	liveKey, _ := testEntry(t, 1_000_000)
	mem := vfs.NewMem()
	db := openTest(t, mem, Config{
		Now: clock.Now, Retain: 90 * day, MaxBytes: maxBytes, PruneEvery: -1, CacheBytes: -1,
		InUse: func(k hashing.Key) bool { return k == liveKey },
	})
	putN(t, db, 1_000_000, 1_000_001)
	popular := []int{500_000, 500_001, 500_002}
	next := 0
	var pruned int
	var maxLive int64
	for d := range 365 {
		for _, p := range popular {
			putN(t, db, p, p+1)
		}
		putN(t, db, next, next+15)
		next += 15
		res, err := db.Prune(ctx, PruneOptions{})
		if err != nil {
			t.Fatalf("day %d: %v", d, err)
		}
		pruned += res.Pruned()
		maxLive = max(maxLive, res.LiveBytes)
		if res.LiveBytes > maxBytes {
			t.Fatalf("day %d: %d bytes live after the pass, cap %d", d, res.LiveBytes, maxBytes)
		}
		clock.advance(day)
	}
	for _, p := range append(popular, 1_000_000) {
		if !present(t, db, p) {
			t.Errorf("entry %d gone", p)
		}
	}
	if present(t, db, 0) {
		t.Errorf("an entry from the first day, never seen again, is still there after a year")
	}
	// On disk the store runs above its live bytes: the write-ahead log
	// holds every write until the memtable is flushed, and the tombstones
	// of pruned entries stay in the tables until pebble compacts them
	// away. Logged, not asserted: MaxBytes caps the live entries.
	t.Logf("a year: %d entries written, %d pruned, at most %d bytes live (cap %d); %d bytes on disk",
		next+3*365, pruned, maxLive, maxBytes, db.Stats().UserDiskBytes)
}

// TestPrunerStopsOnClose runs the periodic pass often, with the clock far
// ahead, and closes the DB: Close waits for the pruner, which pruned.
func TestPrunerStopsOnClose(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	db := openTest(t, nil, Config{Now: clock.Now, Retain: day, PruneEvery: time.Millisecond})
	putN(t, db, 0, 20)
	clock.advance(2 * day)
	deadline := time.Now().Add(10 * time.Second)
	for db.Stats().PrunedEntries < 20 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if err := db.Close(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-db.prunerDone:
	default:
		t.Fatal("Close returned before the pruner stopped")
	}
	if got := db.Stats().PrunedEntries; got != 20 {
		t.Errorf("pruned %d entries, want 20", got)
	}
}
