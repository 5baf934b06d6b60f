package storage

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"

	"github.com/capsengine/capsengine/hashing"
)

// buildTrusted writes entries [from, to) into a trusted store on fs.
func buildTrusted(t *testing.T, fs vfs.FS, dir string, from, to int) {
	t.Helper()
	w, err := OpenTrustedWriter(Config{TrustedDir: dir, FS: fs})
	if err != nil {
		t.Fatalf("OpenTrustedWriter: %v", err)
	}
	for i := from; i < to; i++ {
		k, e := testEntry(t, i)
		if err := w.Put(k, e); err != nil {
			t.Fatalf("TrustedWriter.Put %d: %v", i, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatalf("TrustedWriter.Close: %v", err)
	}
}

func TestTrustedWinsOverUser(t *testing.T) {
	ctx := context.Background()
	fs := vfs.NewMem()
	buildTrusted(t, fs, "trusted", 0, 10)

	// The user store already has 5..14, 5..9 of them also trusted.
	db := openTest(t, fs, Config{})
	for i := 5; i < 15; i++ {
		k, e := testEntry(t, i)
		if err := db.Put(ctx, k, e); err != nil {
			t.Fatal(err)
		}
	}
	db.Close(ctx)

	db = openTest(t, fs, Config{TrustedDir: "trusted"})
	counts, err := db.Count(ctx, User)
	if err != nil {
		t.Fatal(err)
	}
	if n := counts[Kind{hashing.XEP0115, hashing.SHA1}] + counts[Kind{hashing.XEP0390, hashing.SHA256}]; n != 5 {
		t.Errorf("user store kept %d entries (%v), want the 5 untrusted ones", n, counts)
	}
	for i := range 15 {
		k, e := testEntry(t, i)
		got, src, err := db.Lookup(k)
		want := User
		if i < 10 {
			want = Trusted
		}
		if err != nil || src != want || !sameInfo(&got.Info, &e.Info) {
			t.Errorf("entry %d: %v from %v, want %v", i, err, src, want)
		}
	}

	// Write paths refuse trusted keys.
	k, e := testEntry(t, 3)
	if err := db.Put(ctx, k, e); !errors.Is(err, ErrTrusted) {
		t.Errorf("Put of a trusted key: %v, want ErrTrusted", err)
	}
	if err := db.Delete(ctx, k); !errors.Is(err, ErrTrusted) {
		t.Errorf("Delete of a trusted key: %v, want ErrTrusted", err)
	}

	// Trusted hits are memoised in the hot cache.
	db.cache.wait()
	before := db.Stats()
	for range 5 {
		if _, err := db.Get(k); err != nil {
			t.Fatal(err)
		}
	}
	if after := db.Stats(); after.TrustedHits != before.TrustedHits {
		t.Errorf("trusted store read %d more times after the first hit", after.TrustedHits-before.TrustedHits)
	}
}

// snapshot reads every file under dir into a map, LOCK excepted (pebble
// creates it empty on every open).
func snapshot(t *testing.T, fs vfs.FS, dir string) map[string][]byte {
	t.Helper()
	names, err := fs.List(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, n := range names {
		if n == "LOCK" {
			continue
		}
		f, err := fs.Open(fs.PathJoin(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		out[n] = b
	}
	return out
}

// TestTrustedNeverWritten proves that serving never writes to the trusted
// store: pebble opens it ReadOnly, every filesystem write under its
// directory fails (and is counted), and after a full workload — puts,
// deletes, refused trusted keys, flushes and compactions of the user
// store, scans, close — its files are byte-identical.
func TestTrustedNeverWritten(t *testing.T) {
	ctx := context.Background()
	mem := vfs.NewMem()
	buildTrusted(t, mem, "trusted", 0, 50)
	before := snapshot(t, mem, "trusted")

	var attempts atomic.Int64
	var mu sync.Mutex
	var ops []string
	guard := errorfs.InjectorFunc(func(op errorfs.Op) error {
		if !strings.HasPrefix(op.Path, "trusted") || op.Kind.ReadOrWrite() != errorfs.OpIsWrite {
			return nil
		}
		switch op.Kind {
		case errorfs.OpLock, errorfs.OpFileClose:
			return nil // taking the lock and closing read handles write nothing
		}
		attempts.Add(1)
		mu.Lock()
		ops = append(ops, op.Path)
		mu.Unlock()
		return errorfs.ErrInjected
	})
	fs := errorfs.Wrap(mem, guard)

	db := openTest(t, fs, Config{TrustedDir: "trusted", CacheBytes: -1})
	for i := 40; i < 400; i++ { // 40..49 are trusted
		k, e := testEntry(t, i)
		err := db.Put(ctx, k, e)
		if i < 50 && !errors.Is(err, ErrTrusted) || i >= 50 && err != nil {
			t.Fatalf("Put %d: %v", i, err)
		}
		if i%7 == 0 {
			if err := db.Delete(ctx, k); i < 50 && !errors.Is(err, ErrTrusted) || i >= 50 && err != nil {
				t.Fatalf("Delete %d: %v", i, err)
			}
		}
	}
	if err := db.user.db.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := db.user.db.Compact(ctx, entryLower, entryUpper, true); err != nil {
		t.Fatal(err)
	}
	for _, src := range []Source{Trusted, User} {
		if err := db.Scan(ctx, src, func(Record) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 60 {
		k, _ := testEntry(t, i)
		db.Get(k)
	}
	_ = db.Stats()
	if err := db.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}

	if n := attempts.Load(); n != 0 {
		t.Errorf("%d writes attempted on the trusted store: %v", n, ops)
	}
	after := snapshot(t, mem, "trusted")
	if len(after) != len(before) {
		t.Errorf("trusted files: %d before, %d after", len(before), len(after))
	}
	for name, b := range before {
		if !bytes.Equal(after[name], b) {
			t.Errorf("trusted file %s changed", name)
		}
	}
	names := make([]string, 0, len(before))
	for n := range before {
		names = append(names, n)
	}
	sort.Strings(names)
	t.Logf("trusted files unchanged: %v", names)
}

func TestTrustedWriterLockedWhileServing(t *testing.T) {
	fs := vfs.NewMem()
	buildTrusted(t, fs, "trusted", 0, 3)
	db := openTest(t, fs, Config{TrustedDir: "trusted"})
	if _, err := OpenTrustedWriter(Config{TrustedDir: "trusted", FS: fs}); !errors.Is(err, ErrLocked) {
		t.Errorf("OpenTrustedWriter while serving: %v, want ErrLocked", err)
	}
	db.Close(context.Background())
	w, err := OpenTrustedWriter(Config{TrustedDir: "trusted", FS: fs})
	if err != nil {
		t.Fatalf("OpenTrustedWriter after Close: %v", err)
	}
	w.Close()
}

func TestTrustedWriter(t *testing.T) {
	ctx := context.Background()
	fs := vfs.NewMem()
	w, err := OpenTrustedWriter(Config{TrustedDir: "t", FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	k, e := testEntry(t, 1)
	var mm *hashing.MismatchError
	if err := w.Put(k, &Entry{Info: testInfo(2)}); !errors.As(err, &mm) {
		t.Errorf("Put of a wrong answer: %v", err)
	}
	if err := w.Put(k, e); err != nil {
		t.Fatal(err)
	}
	if err := w.Put(k, &Entry{Info: e.Info, Nodes: []string{"second"}}); err != nil {
		t.Fatal(err)
	}
	got, err := w.Get(k) // before any commit
	if err != nil || len(got.Nodes) != 2 {
		t.Errorf("Get through the batch: %+v, %v", got, err)
	}
	k2, e2 := testEntry(t, 2)
	w.Put(k2, e2)
	if err := w.Delete(k2); err != nil {
		t.Fatal(err)
	}
	counts, err := w.Count(ctx)
	if err != nil || len(counts) != 1 || counts[Kind{hashing.XEP0390, hashing.SHA256}] != 1 {
		t.Errorf("Count: %v, %v", counts, err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
