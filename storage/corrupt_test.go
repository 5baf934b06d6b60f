package storage

import (
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/capsengine/capsengine/hashing"
)

const corruptEntries = 2000

// buildCorruptible writes corruptEntries entries from 16 goroutines (so
// commits carry several) into a fresh user store on mem and closes it;
// with flush, they end in a table, else in the WAL.
func buildCorruptible(t *testing.T, mem *vfs.MemFS, flush bool) {
	t.Helper()
	ctx := context.Background()
	db := openTest(t, mem, Config{})
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := g; i < corruptEntries; i += 16 {
				k, e := testEntry(t, i)
				if err := db.Put(ctx, k, e); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if flush {
		if err := db.user.db.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// largest is the name of the largest file in user/ with the suffix.
func largest(t *testing.T, mem *vfs.MemFS, suffix string) string {
	t.Helper()
	names, _ := mem.List("user")
	best, size := "", int64(-1)
	for _, n := range names {
		if !strings.HasSuffix(n, suffix) {
			continue
		}
		st, err := mem.Stat("user/" + n)
		if err == nil && st.Size() > size {
			best, size = "user/"+n, st.Size()
		}
	}
	if best == "" {
		t.Fatalf("no %s file in %v", suffix, names)
	}
	return best
}

func readAll(t *testing.T, mem *vfs.MemFS, name string) []byte {
	t.Helper()
	f, err := mem.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func rewrite(t *testing.T, mem *vfs.MemFS, name string, b []byte) {
	t.Helper()
	w, err := mem.Create(name, vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(b)
	w.Close()
}

// flipMiddle flips 40 consecutive bytes in the middle of a file, as the
// issue's reproduction did.
func flipMiddle(t *testing.T, mem *vfs.MemFS, name string) {
	b := readAll(t, mem, name)
	for i := len(b) / 2; i < len(b)/2+40 && i < len(b); i++ {
		b[i] ^= 0x5a
	}
	rewrite(t, mem, name, b)
}

func truncateHalf(t *testing.T, mem *vfs.MemFS, name string) {
	b := readAll(t, mem, name)
	rewrite(t, mem, name, b[:len(b)/2])
}

// countIntact opens the store (read-only use) and counts the entries that
// are there and verify; an entry that is there and does not verify fails
// the test.
func countIntact(t *testing.T, db *DB) int {
	t.Helper()
	n := 0
	for i := range corruptEntries {
		k, e := testEntry(t, i)
		got, err := db.Get(k)
		switch {
		case err == nil:
			if _, verr := hashing.Verify(k, &got.Info, hashing.Options{}); verr != nil || !sameInfo(&got.Info, &e.Info) {
				t.Errorf("entry %d does not verify after repair: %v", i, verr)
			}
			n++
		case !errors.Is(err, ErrNotFound):
			t.Errorf("entry %d: %v", i, err)
		}
	}
	return n
}

// TestCorruptionIsNeverSilent damages a user store in each way the issue
// lists: Open fails with an error that wraps ErrCorrupt and says what is
// damaged and lost; Open with Repair then keeps every entry it can read
// that verifies, moves the damaged store aside, and the repaired store
// opens cleanly.
func TestCorruptionIsNeverSilent(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		flush bool // the entries are in a table, not the WAL
		// damage returns the file it damaged.
		damage func(t *testing.T, mem *vfs.MemFS) string
		// atLeast is how many entries repair must keep.
		atLeast int
	}{
		{"wal-flip-middle", false, func(t *testing.T, mem *vfs.MemFS) string {
			n := largest(t, mem, ".log")
			flipMiddle(t, mem, n)
			return n
		}, corruptEntries - 40},
		{"wal-truncated", false, func(t *testing.T, mem *vfs.MemFS) string {
			n := largest(t, mem, ".log")
			truncateHalf(t, mem, n)
			return n
		}, corruptEntries/2 - 200},
		{"table-flip-middle", true, func(t *testing.T, mem *vfs.MemFS) string {
			n := largest(t, mem, ".sst")
			flipMiddle(t, mem, n)
			return n
		}, corruptEntries - 200},
		{"table-truncated", true, func(t *testing.T, mem *vfs.MemFS) string {
			n := largest(t, mem, ".sst")
			truncateHalf(t, mem, n)
			return n
		}, 0},
		{"table-deleted", true, func(t *testing.T, mem *vfs.MemFS) string {
			n := largest(t, mem, ".sst")
			if err := mem.Remove(n); err != nil {
				t.Fatal(err)
			}
			return n
		}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mem := vfs.NewMem()
			buildCorruptible(t, mem, tc.flush)
			damaged := tc.damage(t, mem)

			_, err := Open(ctx, Config{Dir: "user", FS: mem, System: newSystem(t), CacheBytes: -1})
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open of a store with %s damaged: %v, want ErrCorrupt", damaged, err)
			}
			var ce *CorruptError
			if !errors.As(err, &ce) || ce.Problem == "" || ce.Lost == "" {
				t.Errorf("Open error says neither what is damaged nor what is lost: %v", err)
			}
			t.Logf("Open: %v", err)
			before, _ := mem.List("user")

			db, err := Open(ctx, Config{Dir: "user", FS: mem, System: newSystem(t), CacheBytes: -1, Repair: true})
			if err != nil {
				t.Fatalf("Open with Repair: %v", err)
			}
			rep := db.Repaired()
			if rep == nil || rep.Problem == nil || rep.Damaged == "" {
				t.Fatalf("Repaired() = %+v, want a report of the repair", rep)
			}
			t.Logf("repair: %v", rep)
			got := countIntact(t, db)
			if got != rep.Kept {
				t.Errorf("%d entries intact, report says %d kept", got, rep.Kept)
			}
			if got < tc.atLeast {
				t.Errorf("repair kept %d of %d entries, want at least %d", got, corruptEntries, tc.atLeast)
			}
			db.Close(ctx)
			// The damaged store is kept, as it was.
			aside, err := mem.List(rep.Damaged)
			slices.Sort(aside)
			slices.Sort(before)
			if err != nil || !slices.Equal(aside, before) {
				t.Errorf("damaged store moved aside holds %v (%v), want %v", aside, err, before)
			}
			// The repaired store opens cleanly, with what repair kept.
			db = openTest(t, mem, Config{CacheBytes: -1})
			if db.Repaired() != nil {
				t.Errorf("the repaired store needed repair again")
			}
			if n := countIntact(t, db); n != got {
				t.Errorf("after reopening the repaired store: %d entries, want %d", n, got)
			}
		})
	}
}

// TestTornWALTailIsNotCorruption appends what a crash in the middle of a
// write leaves (a partial record, zeros) to the WAL: that is a torn tail,
// not damage, and Open succeeds with every entry.
func TestTornWALTailIsNotCorruption(t *testing.T) {
	for _, tail := range []struct {
		name string
		b    []byte
	}{
		{"garbage", []byte("\x8d\x13\x02\x77\x01\x00\x09partial record cut short by kill -9")},
		{"zeros", make([]byte, 4096)},
	} {
		t.Run(tail.name, func(t *testing.T) {
			mem := vfs.NewMem()
			buildCorruptible(t, mem, false)
			n := largest(t, mem, ".log")
			rewrite(t, mem, n, append(readAll(t, mem, n), tail.b...))
			db := openTest(t, mem, Config{CacheBytes: -1})
			if got := countIntact(t, db); got != corruptEntries {
				t.Errorf("%d of %d entries after a torn tail", got, corruptEntries)
			}
		})
	}
}

// TestRepairIntactStore: Repair of an intact store changes nothing.
func TestRepairIntactStore(t *testing.T) {
	mem := vfs.NewMem()
	buildCorruptible(t, mem, false)
	before, _ := mem.List("user")
	rep, err := Repair(context.Background(), Config{Dir: "user", FS: mem})
	if err != nil || rep.Problem != nil || rep.Damaged != "" {
		t.Fatalf("Repair of an intact store: %+v, %v", rep, err)
	}
	after, _ := mem.List("user")
	slices.Sort(before)
	slices.Sort(after)
	if !slices.Equal(before, after) {
		t.Errorf("Repair changed an intact store: %v, then %v", before, after)
	}
}

// TestDamagedTrustedStoreIsNotRepaired: Repair applies to the user store
// only; a damaged trusted store fails Open, Repair or not, and is left as
// it was.
func TestDamagedTrustedStoreIsNotRepaired(t *testing.T) {
	ctx := context.Background()
	mem := vfs.NewMem()
	tw, err := OpenTrustedWriter(Config{TrustedDir: "trusted", FS: mem})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		k, e := testEntry(t, i)
		if err := tw.Put(k, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	names, _ := mem.List("trusted")
	var sst string
	for _, n := range names {
		if strings.HasSuffix(n, ".sst") {
			sst = "trusted/" + n
		}
	}
	flipMiddle(t, mem, sst)
	want := readAll(t, mem, sst)
	_, err = Open(ctx, Config{Dir: "user", TrustedDir: "trusted", FS: mem, System: newSystem(t), Repair: true})
	var oe *OpenError
	if !errors.Is(err, ErrCorrupt) || !errors.As(err, &oe) || oe.Source != Trusted {
		t.Fatalf("Open with a damaged trusted store: %v, want ErrCorrupt for the trusted store", err)
	}
	if got := readAll(t, mem, sst); string(got) != string(want) {
		t.Errorf("the damaged trusted store was modified")
	}
	after, _ := mem.List("trusted")
	slices.Sort(names)
	slices.Sort(after)
	if !slices.Equal(names, after) {
		t.Errorf("trusted store files: %v, then %v", names, after)
	}
}

func FuzzDecodeAck(f *testing.F) {
	f.Add(appendAck(nil, commitMark{Commits: 3, Writes: 70}))
	f.Add(appendAck(nil, commitMark{}))
	f.Add([]byte("capsack\x01"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeAck(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("decodeAck error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if got := appendAck(nil, m); string(got) != string(b) {
			t.Fatalf("decodeAck(%x) = %+v, which encodes to %x", b, m, got)
		}
	})
}

func FuzzDecodeCommitMark(f *testing.F) {
	f.Add(commitMark{Commits: 1, Writes: 2}.append(nil))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeCommitMark(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if got := m.append(nil); string(got) != string(b) {
			t.Fatalf("decodeCommitMark(%x) = %+v, which encodes to %x", b, m, got)
		}
	})
}

// walSeed is a real WAL of a store in the user store's format, and its
// log number. It is written with pebble directly: the fuzz workers each
// build it, and an actor system per worker stalled them.
func walSeed(tb testing.TB) ([]byte, uint32) {
	mem := vfs.NewMem()
	p, err := pebble.Open("user", &pebble.Options{FS: mem, Merger: entryMerger, FormatMajorVersion: pebble.FormatWALSyncChunks})
	if err != nil {
		tb.Fatal(err)
	}
	for i := range 40 {
		k, e := testEntry(tb, i)
		var kb keyBuf
		b := p.NewBatch()
		b.Merge(kb.of(k), AppendEntry(nil, e), nil)
		b.Set(commitKey, commitMark{Commits: uint64(i + 1)}.append(nil), nil)
		if err := b.Commit(pebble.Sync); err != nil {
			tb.Fatal(err)
		}
	}
	if err := p.Close(); err != nil {
		tb.Fatal(err)
	}
	names, _ := mem.List("user")
	best, size := "", -1
	var data []byte
	for _, n := range names {
		if strings.HasSuffix(n, ".log") {
			f, _ := mem.Open("user/" + n)
			b, _ := io.ReadAll(f)
			f.Close()
			if len(b) > size {
				best, size, data = n, len(b), b
			}
		}
	}
	var num uint32
	for _, c := range strings.TrimSuffix(best, ".log") {
		num = num*10 + uint32(c-'0')
	}
	return data, num
}

// TestScanWAL: an intact WAL scans without damage into every commit; one
// with bytes flipped mid-record loses that record only, and says where.
func TestScanWAL(t *testing.T) {
	b, num := walSeed(t)
	all, damaged := scanWAL(b, num)
	if len(damaged) != 0 || len(all) < 40 {
		t.Fatalf("intact WAL: %d records, damage at %v", len(all), damaged)
	}
	mid := len(b) / 2
	bad := slices.Clone(b)
	for i := mid; i < mid+8; i++ {
		bad[i] ^= 0xff
	}
	got, damaged := scanWAL(bad, num)
	if len(damaged) != 1 || damaged[0] > int64(mid) {
		t.Errorf("damage at %d reported at %v", mid, damaged)
	}
	if len(got) < len(all)-2 {
		t.Errorf("%d of %d records read past the damage", len(got), len(all))
	}
	// Another log's chunks (a recycled file) are not this log's records.
	if got, _ := scanWAL(b, num+1); len(got) != 0 {
		t.Errorf("%d records read under another log number", len(got))
	}
}

// appendChunk appends a WAL-sync chunk of type typ (9 full, 10 first, 11
// middle, 12 last) as pebble writes it.
func appendChunk(dst []byte, typ byte, logNum uint32, payload []byte) []byte {
	h := make([]byte, walSyncHeader, walSyncHeader+len(payload))
	binary.LittleEndian.PutUint16(h[4:], uint16(len(payload)))
	h[6] = typ
	binary.LittleEndian.PutUint32(h[7:], logNum)
	h = append(h, payload...)
	c := crc32.Checksum(h[6:], castagnoli)
	binary.LittleEndian.PutUint32(h, (c>>15|c<<17)+0xa282ead8)
	return append(dst, h...)
}

func FuzzScanWAL(f *testing.F) {
	var synth []byte
	synth = appendChunk(synth, 9, 7, []byte("a full record"))
	synth = appendChunk(synth, 10, 7, []byte("first "))
	synth = appendChunk(synth, 11, 7, []byte("middle "))
	synth = appendChunk(synth, 12, 7, []byte("last"))
	f.Add(synth, uint32(7))
	f.Add([]byte{}, uint32(0))
	f.Add(make([]byte, 100), uint32(1))
	f.Fuzz(func(t *testing.T, b []byte, num uint32) {
		records, damaged := scanWAL(b, num)
		last := int64(-1)
		for _, d := range damaged {
			if d <= last || d >= int64(len(b)) {
				t.Fatalf("damage offsets %v out of order or range (len %d)", damaged, len(b))
			}
			last = d
		}
		for _, r := range records {
			var batch pebble.Batch
			_ = batch.SetRepr(r) // records are peer-independent, but must never panic the batch decoder
		}
	})
}
