package actors

import (
	"testing"

	"github.com/capsengine/capsengine/hashing"
)

// keySet counts: a key stays while any lookup or request holds it, and
// leaves the map when the last one goes.
func TestKeySetCounts(t *testing.T) {
	s := newKeySet()
	_, k, _ := client(t, "keyset", nil)
	s.add(k) // a shard's request
	s.add(k) // its lookup starts
	s.remove(k)
	if !s.has(k) {
		t.Fatal("key gone while its lookup runs")
	}
	s.remove(k)
	if s.has(k) || s.len() != 0 {
		t.Fatalf("has %v, len %d after the last remove", s.has(k), s.len())
	}
}

// storeWrites: a stamp holds until a key of its bucket is written.
func TestStoreWritesStamp(t *testing.T) {
	w := newStoreWrites()
	var k hashing.Key
	st := w.stamp(k)
	if !w.unchanged(k, st) || w.unchanged(k, 0) {
		t.Fatal("a fresh stamp must hold; 0 never does")
	}
	w.wrote(k)
	if w.unchanged(k, st) {
		t.Fatal("stamp holds after a write of its key")
	}
}
