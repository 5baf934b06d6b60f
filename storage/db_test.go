package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/capsengine/capsengine/hashing"
)

func TestPutGet(t *testing.T) {
	ctx := context.Background()
	fs := vfs.NewMem()
	db := openTest(t, fs, Config{Now: func() time.Time { return testTime }})
	for i := range 4 {
		k, e := testEntry(t, i)
		if err := db.Put(ctx, k, e); err != nil {
			t.Fatalf("Put %d: %v", i, err)
		}
		got, src, err := db.Lookup(k)
		if err != nil {
			t.Fatalf("Lookup %d: %v", i, err)
		}
		if src != User || got.Method != hashing.Strict || !sameInfo(&got.Info, &e.Info) {
			t.Errorf("entry %d: got %v %v %+v", i, src, got.Method, got.Info)
		}
		if !got.FirstSeen.Equal(testTime) || !got.LastSeen.Equal(testTime) {
			t.Errorf("entry %d: seen %v..%v, want %v", i, got.FirstSeen, got.LastSeen, testTime)
		}
	}
	// A key nobody stored.
	in := testInfo(99)
	if _, err := db.Get(testKey(t, 99, &in)); err != ErrNotFound {
		t.Errorf("Get of an absent key: %v, want ErrNotFound", err)
	}

	// Everything survives a reopen, from pebble rather than the cache.
	if err := db.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	db = openTest(t, fs, Config{CacheBytes: -1})
	for i := range 4 {
		k, e := testEntry(t, i)
		got, err := db.Get(k)
		if err != nil || !sameInfo(&got.Info, &e.Info) {
			t.Errorf("after reopen, entry %d: %v", i, err)
		}
	}
	if s := db.Stats(); s.UserHits != 4 || s.CacheHits != 0 {
		t.Errorf("stats after reopen: %+v", s)
	}
}

func TestPutRejectsUnverified(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, nil, Config{})
	k, e := testEntry(t, 0)
	other := testInfo(1)

	var mm *hashing.MismatchError
	if err := db.Put(ctx, k, &Entry{Info: other}); !errors.As(err, &mm) {
		t.Errorf("Put of another answer: %v, want a *hashing.MismatchError", err)
	}
	dup := e.Info
	dup.Features = append(append([]string(nil), dup.Features...), dup.Features[0])
	if err := db.Put(ctx, k, &Entry{Info: dup}); !errors.Is(err, hashing.ErrDuplicateFeature) {
		t.Errorf("Put of a duplicate feature: %v, want ErrDuplicateFeature", err)
	}
	if err := db.Put(ctx, k, nil); err == nil {
		t.Error("Put(nil) succeeded")
	}
	if _, err := db.Get(k); err != ErrNotFound {
		t.Errorf("a rejected entry was stored: %v", err)
	}
	if s := db.Stats(); s.Commits != 0 {
		t.Errorf("rejected puts reached the writer: %+v", s)
	}
}

// TestPutProof: a Proof spares the hashing only for what it proves; a
// proof of another key or another answer lets nothing wrong in.
func TestPutProof(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, nil, Config{})
	k, e := testEntry(t, 0)
	k1, e1 := testEntry(t, 1)
	p, err := hashing.Prove(k, &e.Info, hashing.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p1, err := hashing.Prove(k1, &e1.Info, hashing.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var mm *hashing.MismatchError
	if err := db.Put(ctx, k, &Entry{Info: e1.Info, Proof: p1}); !errors.As(err, &mm) {
		t.Errorf("Put of another answer with that answer's proof: %v, want a *hashing.MismatchError", err)
	}
	if err := db.Put(ctx, k1, &Entry{Info: e1.Info, Proof: p}); err != nil {
		t.Errorf("Put with another key's proof, of a right answer: %v", err)
	}
	if _, err := db.Get(k); err != ErrNotFound {
		t.Errorf("an entry proven for another key was stored: %v", err)
	}
	if err := db.Put(ctx, k, &Entry{Info: e.Info, Proof: p}); err != nil {
		t.Fatalf("Put with its proof: %v", err)
	}
	got, err := db.Get(k)
	if err != nil || got.Method != hashing.Strict || !reflect.DeepEqual(got.Info, e.Info) {
		t.Errorf("proven entry: %+v, %v", got, err)
	}
}

// BenchmarkEncodeVerified: what a proof saves a put.
func BenchmarkEncodeVerified(b *testing.B) {
	k, e := testEntry(b, 0)
	p, err := hashing.Prove(k, &e.Info, hashing.Options{})
	if err != nil {
		b.Fatal(err)
	}
	cfg := Config{Now: time.Now}
	for _, tc := range []struct {
		name  string
		proof hashing.Proof
	}{{"hashed", hashing.Proof{}}, {"proven", p}} {
		b.Run(tc.name, func(b *testing.B) {
			en := *e
			en.Proof = tc.proof
			for b.Loop() {
				if _, err := encodeVerified(&cfg, k, &en); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestPutLenient(t *testing.T) {
	ctx := context.Background()
	in := testInfo(0)
	in.Features = append(in.Features, in.Features[0]) // as tkabber sends it
	k, err := hashing.ParseKey(hashing.XEP0115, hashing.SHA1, verAsSent(t, &in))
	if err != nil {
		t.Fatal(err)
	}
	strict := openTest(t, nil, Config{})
	if err := strict.Put(ctx, k, &Entry{Info: in}); !errors.Is(err, hashing.ErrDuplicateFeature) {
		t.Fatalf("strict Put: %v", err)
	}
	lenient := openTest(t, nil, Config{Verify: hashing.Options{DuplicateFeatures: true}})
	if err := lenient.Put(ctx, k, &Entry{Info: in}); err != nil {
		t.Fatalf("lenient Put: %v", err)
	}
	if e, err := lenient.Get(k); err != nil || e.Method != hashing.AsSentDuplicates {
		t.Errorf("lenient entry: %v, %v", e, err)
	}
}

// verAsSent hashes S over the features as sent, duplicates kept, the way
// the clients that send duplicates compute their ver.
func verAsSent(t *testing.T, in *hashing.Info) string {
	t.Helper()
	var s strings.Builder
	for _, id := range in.Identities {
		fmt.Fprintf(&s, "%s/%s/%s/%s<", id.Category, id.Type, id.Lang, id.Name)
	}
	feats := append([]string(nil), in.Features...)
	sortStrings(feats)
	for _, f := range feats {
		s.WriteString(f + "<")
	}
	return sha1Base64(s.String())
}

func TestPutMerges(t *testing.T) {
	ctx := context.Background()
	fs := vfs.NewMem()
	now := testTime
	db := openTest(t, fs, Config{Now: func() time.Time { return now }})
	k, e := testEntry(t, 0)
	if err := db.Put(ctx, k, e); err != nil {
		t.Fatal(err)
	}
	now = testTime.Add(time.Hour)
	again := &Entry{Info: e.Info, Nodes: []string{"http://other.example"}}
	if err := db.Put(ctx, k, again); err != nil {
		t.Fatal(err)
	}
	check := func(db *DB) {
		t.Helper()
		got, err := db.Get(k)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{e.Nodes[0], "http://other.example"}; fmt.Sprint(got.Nodes) != fmt.Sprint(want) {
			t.Errorf("nodes %q, want %q", got.Nodes, want)
		}
		if !got.FirstSeen.Equal(testTime) || !got.LastSeen.Equal(now) {
			t.Errorf("seen %v..%v, want %v..%v", got.FirstSeen, got.LastSeen, testTime, now)
		}
	}
	db.cache.wait()
	check(db) // from the cache
	db.Close(ctx)
	check(openTest(t, fs, Config{})) // from pebble
}

func TestCacheHoldsHits(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, nil, Config{})
	k, e := testEntry(t, 3)
	if err := db.Put(ctx, k, e); err != nil {
		t.Fatal(err)
	}
	// Put does not fill the cache; the first lookup reads pebble and does.
	if _, src, err := db.Lookup(k); err != nil || src != User {
		t.Fatal(src, err)
	}
	if s := db.Stats(); s.UserHits != 1 {
		t.Errorf("first lookup after Put: %d pebble hits, want 1", s.UserHits)
	}
	db.cache.wait()
	before := db.Stats()
	for range 10 {
		if _, err := db.Get(k); err != nil {
			t.Fatal(err)
		}
	}
	after := db.Stats()
	if after.CacheHits-before.CacheHits != 10 || after.UserHits != before.UserHits {
		t.Errorf("10 gets of a cached key: %d cache hits, %d pebble hits",
			after.CacheHits-before.CacheHits, after.UserHits-before.UserHits)
	}
	if r := after.CacheHitRatio(); r <= 0 || r > 1 {
		t.Errorf("hit ratio %v", r)
	}
}

// TestBlockCacheHoldsBlocks reads flushed keys twice, past the hot
// cache, and checks that the second reads come from pebble's block
// cache. pebble counts its memtables against the block cache; with no
// room left for them the cache held nothing and every read went to the
// file. A block cache smaller than one memtable shows it at once.
func TestBlockCacheHoldsBlocks(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, nil, Config{CacheBytes: -1, BlockCacheBytes: 128 << 10})
	const n = 200
	keys := make([]hashing.Key, n)
	for i := range keys {
		var e *Entry
		keys[i], e = testEntry(t, i)
		if err := db.Put(ctx, keys[i], e); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.user.db.Flush(); err != nil {
		t.Fatal(err)
	}
	read := func() {
		for _, k := range keys {
			if _, err := db.Get(k); err != nil {
				t.Fatal(err)
			}
		}
	}
	read()
	before := db.user.db.Metrics().BlockCache
	read()
	after := db.user.db.Metrics().BlockCache
	if after.Count == 0 {
		t.Fatal("the block cache holds no block")
	}
	if misses := after.Misses - before.Misses; misses != 0 {
		t.Errorf("second reads of %d flushed keys: %d block cache misses, %d hits", n, misses, after.Hits-before.Hits)
	}
}

func TestDelete(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, nil, Config{})
	k, e := testEntry(t, 0)
	if err := db.Put(ctx, k, e); err != nil {
		t.Fatal(err)
	}
	if err := db.Delete(ctx, k); err != nil {
		t.Fatal(err)
	}
	db.cache.wait()
	if _, err := db.Get(k); err != ErrNotFound {
		t.Errorf("Get after Delete: %v", err)
	}
	if err := db.Delete(ctx, k); err != nil {
		t.Errorf("Delete of an absent key: %v", err)
	}
}

func TestScanAndCount(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, nil, Config{})
	want := map[hashing.Key]bool{}
	for i := range 10 {
		k, e := testEntry(t, i)
		if err := db.Put(ctx, k, e); err != nil {
			t.Fatal(err)
		}
		want[k] = true
	}
	err := db.Scan(ctx, User, func(r Record) error {
		if r.Err != nil || !want[r.Key] {
			t.Errorf("scan: %v %v", r.Key, r.Err)
		}
		delete(want, r.Key)
		return nil
	})
	if err != nil || len(want) != 0 {
		t.Errorf("scan: %v, missed %d", err, len(want))
	}
	counts, err := db.Count(ctx, User)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := counts[Kind{hashing.XEP0115, hashing.SHA1}], counts[Kind{hashing.XEP0390, hashing.SHA256}]; a != 5 || b != 5 || len(counts) != 2 {
		t.Errorf("counts %v", counts)
	}
	if _, err := db.Count(ctx, Trusted); !errors.Is(err, ErrNotFound) {
		t.Errorf("Count(Trusted) without a trusted store: %v", err)
	}
	stop := errors.New("stop")
	if err := db.Scan(ctx, User, func(Record) error { return stop }); err != stop {
		t.Errorf("Scan returned %v, want the callback's error", err)
	}
}

func TestCloseIdempotent(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, nil, Config{})
	k, e := testEntry(t, 0)
	if err := db.Put(ctx, k, e); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { errs[i] = db.Close(ctx) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Close %d: %v", i, err)
		}
	}
	if _, err := db.Get(k); !errors.Is(err, ErrClosed) {
		t.Errorf("Get after Close: %v", err)
	}
	if err := db.Put(ctx, k, e); !errors.Is(err, ErrClosed) {
		t.Errorf("Put after Close: %v", err)
	}
	if err := db.Scan(ctx, User, func(Record) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("Scan after Close: %v", err)
	}
	_ = db.Stats()
}

// TestCloseDrains closes while inserters are in flight: every Put either
// succeeds, and then its entry is there after reopening, or fails with
// ErrClosed. None hangs.
func TestCloseDrains(t *testing.T) {
	ctx := context.Background()
	fs := vfs.NewMem()
	db := openTest(t, fs, Config{})
	const n = 200
	results := make([]error, n)
	started := make(chan struct{}, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			k, e := testEntry(t, i)
			started <- struct{}{}
			results[i] = db.Put(ctx, k, e)
		})
	}
	for range n / 2 {
		<-started
	}
	if err := db.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wg.Wait()
	db = openTest(t, fs, Config{})
	ok := 0
	for i, err := range results {
		k, _ := testEntry(t, i)
		_, gerr := db.Get(k)
		switch {
		case err == nil:
			ok++
			if gerr != nil {
				t.Errorf("acknowledged entry %d missing: %v", i, gerr)
			}
		case !errors.Is(err, ErrClosed):
			t.Errorf("Put %d: %v, want nil or ErrClosed", i, err)
		}
	}
	t.Logf("%d of %d puts acknowledged before Close", ok, n)
}

// TestPutAsync: every PutAsync is answered exactly once — after its
// commit, refused at once, or by Close's drain — and an entry answered
// nil is durable.
func TestPutAsync(t *testing.T) {
	ctx := context.Background()
	fs := vfs.NewMem()
	db := openTest(t, slowSyncFS{FS: fs, d: time.Millisecond}, Config{})
	const n = 300
	results := make([]chan error, n)
	for i := range n {
		results[i] = make(chan error, 2) // room to catch a second answer
		k, e := testEntry(t, i)
		if i == 7 {
			e.Info.Features = append(e.Info.Features, "not-in-the-hash")
		}
		db.PutAsync(k, e, func(err error) { results[i] <- err })
		if i == n/2 {
			if err := db.Close(ctx); err != nil {
				t.Fatalf("Close: %v", err)
			}
		}
	}
	db = openTest(t, fs, Config{})
	ok := 0
	for i, ch := range results {
		var err error
		select {
		case err = <-ch:
		case <-time.After(10 * time.Second):
			t.Fatalf("put %d never answered", i)
		}
		if len(ch) != 0 {
			t.Errorf("put %d answered twice", i)
		}
		k, _ := testEntry(t, i)
		_, gerr := db.Get(k)
		var mismatch *hashing.MismatchError
		switch {
		case i == 7:
			if !errors.As(err, &mismatch) || gerr == nil {
				t.Errorf("unverified put: %v (stored: %v)", err, gerr == nil)
			}
		case i <= n/2:
			if err != nil || gerr != nil {
				t.Errorf("put %d before Close: %v, stored: %v", i, err, gerr)
			}
			ok++
		default:
			if !errors.Is(err, ErrClosed) {
				t.Errorf("put %d after Close: %v, want ErrClosed", i, err)
			}
		}
	}
	if ok != n/2 {
		t.Errorf("%d puts before Close stored, want %d", ok, n/2)
	}
}

func TestPutContext(t *testing.T) {
	db := openTest(t, nil, Config{})
	k, e := testEntry(t, 0)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := db.Put(ctx, k, e); !errors.Is(err, context.Canceled) {
		t.Errorf("Put with a done context: %v", err)
	}
}

// TestGroupCommit checks that concurrent inserters share commits. A
// commit takes a disk sync; MemFS syncs take no time, which left grouping
// to the scheduler (the test failed on a fast machine without -race):
// syncs here take a millisecond, so inserters queue behind each commit.
func TestGroupCommit(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, slowSyncFS{FS: vfs.NewMem(), d: time.Millisecond}, Config{})
	const writers, each = 64, 20
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for j := range each {
				k, e := testEntry(t, w*each+j)
				if err := db.Put(ctx, k, e); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	s := db.Stats()
	if s.Committed != writers*each {
		t.Errorf("committed %d, want %d", s.Committed, writers*each)
	}
	if s.Commits >= s.Committed/2 {
		t.Errorf("%d commits for %d inserts: no grouping", s.Commits, s.Committed)
	}
	t.Logf("%d inserts in %d commits", s.Committed, s.Commits)
}

// TestGroupCommitMaxBatch checks that a batch never exceeds MaxBatch and
// that duplicate keys within one batch merge.
func TestGroupCommitMaxBatch(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, nil, Config{MaxBatch: 3})
	k, e := testEntry(t, 0)
	var wg sync.WaitGroup
	for i := range 30 {
		wg.Go(func() {
			ei := *e
			ei.Nodes = []string{fmt.Sprint("node", i%20)}
			if err := db.Put(ctx, k, &ei); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	s := db.Stats()
	if s.Commits < 10 {
		t.Errorf("%d commits for 30 inserts with MaxBatch 3", s.Commits)
	}
	got, err := db.Get(k)
	if err != nil || len(got.Nodes) != MaxNodes {
		t.Errorf("merged entry: %v nodes, %v", got, err)
	}
}

// TestSupervisorLogsPanics makes the writer panic: the supervisor logs the
// panic with its stack, the writer restarts, and puts keep working.
func TestSupervisorLogsPanics(t *testing.T) {
	ctx := context.Background()
	rec := newLogRecorder()
	db := openTest(t, nil, Config{Logger: slog.New(rec)})
	db.system.Root.Send(db.writer, &crashRequest{})
	k, e := testEntry(t, 0)
	if err := db.Put(ctx, k, e); err != nil {
		t.Fatalf("Put after a writer panic: %v", err)
	}
	r, ok := rec.find("storage: actor panicked; restarting")
	if !ok {
		t.Fatal("no log record of the panic")
	}
	if p := attr(r, "panic"); p != "storage: crash requested" {
		t.Errorf("panic attr %q", p)
	}
	if st := attr(r, "stack"); !strings.Contains(st, "(*writer).Receive") {
		t.Errorf("stack does not show where it panicked:\n%s", st)
	}
}

// slowSyncFS is fs whose writable files take d to sync, like a disk.
type slowSyncFS struct {
	vfs.FS
	d time.Duration
}

func (fs slowSyncFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	return fs.slow(fs.FS.Create(name, c))
}

func (fs slowSyncFS) ReuseForWrite(oldname, newname string, c vfs.DiskWriteCategory) (vfs.File, error) {
	return fs.slow(fs.FS.ReuseForWrite(oldname, newname, c))
}

func (fs slowSyncFS) OpenReadWrite(name string, c vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	return fs.slow(fs.FS.OpenReadWrite(name, c, opts...))
}

func (fs slowSyncFS) slow(f vfs.File, err error) (vfs.File, error) {
	if err != nil {
		return nil, err
	}
	return slowSyncFile{File: f, d: fs.d}, nil
}

type slowSyncFile struct {
	vfs.File
	d time.Duration
}

func (f slowSyncFile) Sync() error {
	time.Sleep(f.d)
	return f.File.Sync()
}

func (f slowSyncFile) SyncData() error {
	time.Sleep(f.d)
	return f.File.SyncData()
}
