package storage

import (
	"fmt"

	"github.com/capsengine/capsengine/hashing"
)

// Key space. Every pebble key starts with a kind byte:
//
//	0x00 "format"                       store metadata (format version)
//	0x01 scheme alg digest...           one entry: 3 + digest bytes
//
// Keys of one scheme and algorithm are therefore contiguous, and an entry
// key is 23 bytes for a sha-1 ver, 35 for sha-256.
const (
	kindMeta  byte = 0x00
	kindEntry byte = 0x01
)

// maxKeyLen is the longest entry key.
const maxKeyLen = 3 + hashing.MaxDigestSize

var (
	formatKey = []byte{kindMeta, 'f', 'o', 'r', 'm', 'a', 't'}
	// Bounds of the entry key space, for iterators.
	entryLower = []byte{kindEntry}
	entryUpper = []byte{kindEntry + 1}
)

// appendKey appends the pebble key of k to dst.
func appendKey(dst []byte, k hashing.Key) []byte {
	dst = append(dst, kindEntry, byte(k.Scheme), byte(k.Alg))
	return k.AppendDigest(dst)
}

// decodeKey is the inverse of appendKey. It fails with ErrCorrupt for bytes
// that are not an entry key of a scheme and algorithm hashing can verify.
func decodeKey(b []byte) (hashing.Key, error) {
	if len(b) < 4 || b[0] != kindEntry {
		return hashing.Key{}, fmt.Errorf("%w: bad key %x", ErrCorrupt, b)
	}
	k, err := hashing.NewKey(hashing.Scheme(b[1]), hashing.Algorithm(b[2]), b[3:])
	if err != nil {
		return hashing.Key{}, fmt.Errorf("%w: key %x: %w", ErrCorrupt, b, err)
	}
	return k, nil
}

// keyBuf is a stack buffer for one encoded key.
type keyBuf [maxKeyLen]byte

func (kb *keyBuf) of(k hashing.Key) []byte { return appendKey(kb[:0], k) }
