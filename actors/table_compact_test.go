package actors

import (
	"fmt"
	"testing"

	"github.com/capsengine/capsengine/hashing"
)

// A table through which many more JIDs and keys pass than are ever live at
// once rebuilds its maps, and keeps every live entry through the rebuilds.
func TestTableCompactsUnderChurn(t *testing.T) {
	tab := newTable(nil)
	key := func(i int) hashing.Key {
		k, err := hashing.NewKey(hashing.XEP0115, hashing.SHA1, []byte(fmt.Sprintf("%020d", i)))
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	const live = 50
	rebuilds := 0
	for i := range 20 * compactFloor {
		tab.mu.Lock()
		tab.setLocked(fmt.Sprintf("u%d@example.org/r", i), key(i), "n")
		if i >= live {
			before := tab.keyDeletes
			tab.removeLocked(fmt.Sprintf("u%d@example.org/r", i-live))
			if tab.keyDeletes < before {
				rebuilds++
			}
		}
		tab.mu.Unlock()
	}
	if rebuilds == 0 {
		t.Fatal("the key index was never rebuilt")
	}
	if tab.jids.len() != live || len(tab.index) != live {
		t.Fatalf("%d JIDs and %d keys, want %d each", tab.jids.len(), len(tab.index), live)
	}
	for i := 20*compactFloor - live; i < 20*compactFloor; i++ {
		k, ok := tab.get(fmt.Sprintf("u%d@example.org/r", i))
		if !ok || k != key(i) {
			t.Fatalf("JID %d: %v %v after rebuilds", i, k, ok)
		}
		if _, ok := tab.index[key(i)]; !ok {
			t.Fatalf("key %d lost in a rebuild", i)
		}
	}
}
