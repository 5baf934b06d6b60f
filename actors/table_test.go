package actors

import (
	"fmt"
	"testing"

	"github.com/capsengine/capsengine/hashing"
)

func TestTableInterning(t *testing.T) {
	tb := newTable(nil)
	k := tableKey
	tb.setLocked("a", k(1), "")
	tb.setLocked("b", k(1), "")
	tb.setLocked("c", k(2), "")
	if len(tb.index) != 2 {
		t.Fatalf("%d interned keys, want 2", len(tb.index))
	}
	tb.setLocked("c", k(1), "") // k(2) has no JID left: freed
	if len(tb.index) != 1 || len(tb.free) != 1 {
		t.Fatalf("index %d free %d after c moved", len(tb.index), len(tb.free))
	}
	tb.setLocked("d", k(3), "") // reuses the freed slot
	if len(tb.slots) != 2 {
		t.Errorf("%d slots, want 2 (reuse)", len(tb.slots))
	}
	if !tb.removeLocked("a") || tb.removeLocked("a") {
		t.Error("remove twice")
	}
	if got, ok := tb.get("b"); !ok || got != k(1) {
		t.Errorf("get(b) = %v, %v", got, ok)
	}
	tb.removeLocked("b")
	tb.removeLocked("c")
	tb.removeLocked("d")
	if len(tb.index) != 0 || tb.jids.len() != 0 || tb.len() != 0 {
		t.Errorf("table not empty: %d keys, %d jids", len(tb.index), tb.jids.len())
	}
	tb.setLocked("e", k(4), "") // reuses a freed row
	if tb.rows.len() != 4 {
		t.Errorf("%d rows, want 4 (reuse)", tb.rows.len())
	}
}

// TestTableEach: each reports every JID of a matching key once, whatever
// moved and was freed before, and lets go of the read lock between chunks,
// so that ingest (a writer) goes on during a long walk.
func TestTableEach(t *testing.T) {
	defer func(n int) { eachChunk = n }(eachChunk)
	eachChunk = 8
	tb := newTable(nil)
	k := tableKey
	want := map[string]bool{}
	for i := range 40 {
		jid := fmt.Sprintf("u%d@x/r", i)
		tb.setLocked(jid, k(byte(i%3)), "")
		want[jid] = i%3 != 2
	}
	tb.setLocked("u0@x/r", k(2), "") // moved to a key that does not match
	want["u0@x/r"] = false
	tb.removeLocked("u1@x/r") // a free row in the middle
	delete(want, "u1@x/r")
	got := map[string]int{}
	matches := map[hashing.Key]int{}
	tb.each(func(key hashing.Key, _ *hashing.Info) bool {
		matches[key]++
		return key != k(2)
	}, func(jid string, key hashing.Key) {
		got[jid]++
		if key == k(2) {
			t.Errorf("%s reported with a key that does not match", jid)
		}
	})
	for jid, w := range want {
		if w && got[jid] != 1 {
			t.Errorf("%s reported %d times, want once", jid, got[jid])
		}
		if !w && got[jid] != 0 {
			t.Errorf("%s reported, its key does not match", jid)
		}
	}
	for key, n := range matches {
		if n != 1 {
			t.Errorf("match called %d times for %v, want once", n, key)
		}
	}

	// The walk holds the read lock one chunk at a time: a writer gets in
	// between (under one lock for the whole walk, Lock here would never
	// return), and its change is seen by the chunks after it.
	chunks := 0
	tb.betweenChunks = func() {
		chunks++
		if chunks == 1 {
			tb.mu.Lock()
			tb.setLocked("reused@x/r", k(1), "") // takes u1's free row, walked already
			tb.setLocked("new@x/r", k(1), "")    // a new row, in the last chunk
			tb.mu.Unlock()
		}
	}
	seen := false
	tb.each(func(hashing.Key, *hashing.Info) bool { return true }, func(jid string, _ hashing.Key) {
		seen = seen || jid == "new@x/r"
	})
	if !seen || chunks != (tb.rows.len()+eachChunk-1)/eachChunk {
		t.Errorf("written between chunks: seen %v; %d chunks for %d rows", seen, chunks, tb.rows.len())
	}
}

// tableKey is a distinct key per b.
func tableKey(b byte) hashing.Key {
	d := make([]byte, 20)
	d[0] = b
	key, _ := hashing.NewKey(hashing.XEP0115, hashing.SHA1, d)
	return key
}

// Rows past the first chunks keep their place and contents, and the
// walk reaches every one of them.
func TestTableRowsPastAChunk(t *testing.T) {
	tb := newTable(nil)
	k := hashing.Key{Scheme: hashing.XEP0115, Alg: hashing.SHA1}
	const n = 3*rowChunk + 5
	for i := range n {
		tb.setLocked(fmt.Sprintf("u%d@x/r", i), k, "")
	}
	if got := len(tb.rows.chunks); got != 4 {
		t.Fatalf("%d chunks for %d rows, want 4", got, n)
	}
	for _, i := range []int{0, rowChunk - 1, rowChunk, 2*rowChunk + 7, n - 1} {
		if got, want := tb.rows.at(int32(i)).jid, fmt.Sprintf("u%d@x/r", i); got != want {
			t.Fatalf("row %d is %q, want %q", i, got, want)
		}
	}
	seen := 0
	tb.each(func(hashing.Key, *hashing.Info) bool { return true }, func(string, hashing.Key) { seen++ })
	if seen != n {
		t.Fatalf("the walk saw %d rows of %d", seen, n)
	}
}
