package actors

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestJIDIndexAgainstAMap drives the index and a Go map with the same
// random puts and deletes, over few home cells so that runs are long,
// wrap around the array's end, and are shifted back by deletions.
func TestJIDIndexAgainstAMap(t *testing.T) {
	const steps = 50_000
	for _, c := range []struct {
		homes uint64
		n     int
	}{{4, 200}, {61, 1000}, {1 << 20, 5000}} {
		homes := c.homes
		rng := rand.New(rand.NewPCG(homes, 7))
		var x jidIndex
		model := map[fingerprint]entry{}
		fps := make([]fingerprint, c.n)
		for i := range fps {
			// The home index is fp[0]'s low bits: few distinct values
			// pile many fingerprints onto the same cells.
			fps[i] = fingerprint{rng.Uint64N(homes) | uint64(i)<<40, uint64(i)<<1 | 1}
		}
		for step := range steps {
			fp := fps[rng.IntN(len(fps))]
			// Grow for the first half, then mostly delete, so that the
			// array shrinks too.
			switch {
			case rng.IntN(8) == 0:
				x.markResolved(fp)
				if e, ok := model[fp]; ok {
					e.r |= toldResolvedBit
					model[fp] = e
				}
			case rng.IntN(2) == 0 || (step > steps/2 && rng.IntN(3) > 0):
				x.del(fp)
				delete(model, fp)
			default:
				e := newEntry(int32(step), int32(step>>3))
				x.put(fp, e)
				model[fp] = e
			}
			if step%(steps/50) == 0 {
				check(t, &x, model, fps)
			}
		}
		check(t, &x, model, fps)
		for _, fp := range fps {
			x.del(fp)
		}
		if x.len() != 0 || len(x.cells) != minCells {
			t.Fatalf("emptied index: %d entries in %d cells, want 0 in %d", x.len(), len(x.cells), minCells)
		}
	}
}

func check(t *testing.T, x *jidIndex, model map[fingerprint]entry, fps []fingerprint) {
	t.Helper()
	if x.len() != len(model) {
		t.Fatalf("len %d, want %d", x.len(), len(model))
	}
	if x.n*4 > len(x.cells)*3 {
		t.Fatalf("%d entries in %d cells: over 3/4 full", x.n, len(x.cells))
	}
	for _, fp := range fps {
		e, ok := x.get(fp)
		want, wok := model[fp]
		if ok != wok || e != want {
			t.Fatalf("get(%x) = %v, %v; want %v, %v", fp, e, ok, want, wok)
		}
	}
}

// The array follows the live entries down: a shard whose JIDs left does
// not keep the memory of its busiest hour.
func TestJIDIndexShrinks(t *testing.T) {
	var x jidIndex
	const n = 100_000
	for i := range n {
		x.put(fingerprintOf(fmt.Sprint(i, "@x/r")), entry{})
	}
	peak := len(x.cells)
	for i := range n - 10 {
		x.del(fingerprintOf(fmt.Sprint(i, "@x/r")))
	}
	if x.len() != 10 || len(x.cells) > minCells {
		t.Fatalf("%d entries in %d cells (peak %d), want 10 in %d", x.len(), len(x.cells), peak, minCells)
	}
}
