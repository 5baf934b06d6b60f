package actors

import "github.com/capsengine/capsengine/internal/hugepage"

// jidIndex maps JID fingerprints to their entries: the lookup every
// presence makes. It is an open-addressing table with linear probing over
// one flat array of cells, rather than a Go map, for what a fingerprint
// key allows:
//
//   - A fingerprint is already a keyed random value, so its first word is
//     the home index: nothing is hashed again (a map runs aeshash over
//     the 16 bytes on every probe).
//   - A hit usually touches one cache line, the cell itself; a Go map
//     reads its group's control word, then the slot, 200 bytes apart.
//     With millions of JIDs neither stays in cache (BenchmarkTableWarm,
//     500k / 2.5M JIDs: 222–249 / 342 ns per presence with the map,
//     182–192 / 259–278 with this table).
//   - Deletion shifts the cells behind back into place (no tombstones),
//     and the array shrinks when the JIDs leave: a Go map never gives its
//     memory back, which under months of churn made it grow with the
//     JIDs ever seen until compact rebuilt it.
type jidIndex struct {
	cells []jidCell // a power of two long, at most 3/4 full
	n     int
}

type jidCell struct {
	fp fingerprint // the zero fingerprint marks an empty cell
	e  entry
}

// minCells is the smallest array: small shards stay small, and it is a
// power of two.
const minCells = 64

func (x *jidIndex) home(fp fingerprint) int { return int(fp[0] & uint64(len(x.cells)-1)) }

func (x *jidIndex) len() int { return x.n }

// find returns the cell holding fp and true, or the empty cell that
// ends fp's run and false. The array must not be empty.
func (x *jidIndex) find(fp fingerprint) (int, bool) {
	mask := len(x.cells) - 1
	for i := x.home(fp); ; i = (i + 1) & mask {
		switch x.cells[i].fp {
		case fp:
			return i, true
		case fingerprint{}:
			return i, false
		}
	}
}

func (x *jidIndex) get(fp fingerprint) (entry, bool) {
	if len(x.cells) == 0 {
		return entry{}, false
	}
	i, ok := x.find(fp)
	return x.cells[i].e, ok
}

// put sets fp's entry. fp must not be zero (fingerprintOf never is).
func (x *jidIndex) put(fp fingerprint, e entry) {
	if (x.n+1)*4 > len(x.cells)*3 {
		x.resize(max(minCells, 2*len(x.cells)))
	}
	i, ok := x.find(fp)
	if !ok {
		x.cells[i].fp = fp
		x.n++
	}
	x.cells[i].e = e
}

// markResolved sets the told-resolved bit of fp's entry, if present.
func (x *jidIndex) markResolved(fp fingerprint) {
	if len(x.cells) == 0 {
		return
	}
	if i, ok := x.find(fp); ok {
		x.cells[i].e.r |= toldResolvedBit
	}
}

// del removes fp, if present.
func (x *jidIndex) del(fp fingerprint) {
	if len(x.cells) == 0 {
		return
	}
	i, ok := x.find(fp)
	if !ok {
		return
	}
	mask := len(x.cells) - 1
	// Backward shift: a later cell of the run moves into the hole unless
	// its home lies cyclically in (hole, itself], where it would no
	// longer be found.
	for j := (i + 1) & mask; x.cells[j].fp != (fingerprint{}); j = (j + 1) & mask {
		h := x.home(x.cells[j].fp)
		if (j-h)&mask >= (j-i)&mask {
			x.cells[i] = x.cells[j]
			i = j
		}
	}
	x.cells[i] = jidCell{}
	x.n--
	// Shrink at 1/8 full to 1/4: the hysteresis keeps a table whose
	// size hovers around a boundary from resizing back and forth.
	if len(x.cells) > minCells && x.n*8 < len(x.cells) {
		x.resize(max(minCells, len(x.cells)/2))
	}
}

func (x *jidIndex) resize(size int) {
	old := x.cells
	x.cells = make([]jidCell, size)
	// A growing index is fresh memory, written all over at once while
	// other threads fault and free memory too: with 4 KiB pages, resize
	// was 8–9% of a million-JID cold pass's CPU, 2.7–3.9% with huge
	// pages (bench/README.md, eleventh session).
	hugepage.Advise(x.cells)
	mask := size - 1
	for i := range old {
		c := &old[i]
		if c.fp == (fingerprint{}) {
			continue
		}
		j := x.home(c.fp)
		for x.cells[j].fp != (fingerprint{}) {
			j = (j + 1) & mask
		}
		x.cells[j] = *c
	}
}
