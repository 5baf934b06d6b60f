package storage

import (
	"encoding/binary"
	"fmt"

	"github.com/bits-and-blooms/bloom/v3"

	"github.com/capsengine/capsengine/hashing"
)

// KeySet is a copy of a store's key filter: it says a key was certainly
// not among those stored when it was taken, or that it may have been. A
// cluster member sends one to another when it first sees it (package
// actors), so that a new owner asks this member about a key only when it
// may hold it.
type KeySet struct{ b *bloom.BloomFilter }

// UserKeys is a copy of the user store's key filter, to which the caller
// may add keys; false while the filter's first build is under way (it
// would answer "maybe" to everything) or after Close.
func (db *DB) UserKeys() (*KeySet, bool) {
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.closed || db.user == nil || db.user.filter == nil {
		return nil, false
	}
	f := db.user.filter
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.cur == nil {
		return nil, false
	}
	// cur holds every key committed and every key being committed (add
	// runs before the commit): what a copy must hold.
	return &KeySet{b: f.cur.Copy()}, true
}

// Add adds k.
func (s *KeySet) Add(k hashing.Key) {
	var kb keyBuf
	s.b.Add(kb.of(k))
}

// MayHave is false when k was certainly not in the set.
func (s *KeySet) MayHave(k hashing.Key) bool {
	var kb keyBuf
	return s.b.Test(kb.of(k))
}

// MarshalBinary encodes the set for ParseKeySet.
func (s *KeySet) MarshalBinary() ([]byte, error) { return s.b.MarshalBinary() }

// Bounds of a KeySet another process sent. The largest filter a store
// builds is sized for maxFilterKeys at 1% false positives, 20 million bits
// and 7 hash functions; anything far past that is refused rather than
// allocated or hashed.
const (
	maxKeySetBits = 1 << 26
	maxKeySetK    = 32
)

// ParseKeySet decodes what KeySet.MarshalBinary encoded. The bytes come
// from another process: a header that does not match the bytes that
// follow, a filter of zero bits (its lookups would divide by zero), or one
// larger than a store builds, is refused with an error wrapping
// ErrCorrupt, before anything is allocated for it.
func ParseKeySet(b []byte) (*KeySet, error) {
	// m, k, then the bit set: its length in bits and its words, all
	// big-endian 64-bit words (bloom.WriteTo, bitset.WriteTo).
	const header = 3 * 8
	if len(b) < header {
		return nil, fmt.Errorf("%w: key set of %d bytes", ErrCorrupt, len(b))
	}
	m := binary.BigEndian.Uint64(b[0:])
	k := binary.BigEndian.Uint64(b[8:])
	bits := binary.BigEndian.Uint64(b[16:])
	switch {
	case m == 0 || m > maxKeySetBits:
		return nil, fmt.Errorf("%w: key set of %d bits", ErrCorrupt, m)
	case k == 0 || k > maxKeySetK:
		return nil, fmt.Errorf("%w: key set with %d hash functions", ErrCorrupt, k)
	case bits != m:
		return nil, fmt.Errorf("%w: key set of %d bits holds %d", ErrCorrupt, m, bits)
	case uint64(len(b)-header) != 8*((m+63)/64):
		return nil, fmt.Errorf("%w: key set of %d bits in %d bytes", ErrCorrupt, m, len(b))
	}
	var f bloom.BloomFilter
	if err := f.UnmarshalBinary(b); err != nil {
		return nil, fmt.Errorf("%w: key set: %w", ErrCorrupt, err)
	}
	return &KeySet{b: &f}, nil
}
