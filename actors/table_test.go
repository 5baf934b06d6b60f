package actors

import (
	"testing"

	"github.com/capsengine/capsengine/hashing"
)

func TestTableInterning(t *testing.T) {
	tb := newTable(nil)
	k := func(b byte) hashing.Key {
		d := make([]byte, 20)
		d[0] = b
		key, _ := hashing.NewKey(hashing.XEP0115, hashing.SHA1, d)
		return key
	}
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
	if len(tb.index) != 0 || len(tb.jids) != 0 || tb.len() != 0 {
		t.Errorf("table not empty: %d keys, %d jids", len(tb.index), len(tb.jids))
	}
	tb.setLocked("e", k(4), "") // reuses a freed row
	if len(tb.rows) != 4 {
		t.Errorf("%d rows, want 4 (reuse)", len(tb.rows))
	}
}
