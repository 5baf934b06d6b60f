package hashing

import (
	"encoding/base64"
	"fmt"
)

// Key identifies one announced capability hash: its scheme, algorithm and
// digest. The node is deliberately not part of it: two nodes announcing the
// same verified hash have the same disco#info.
//
// Key is a comparable value with no pointers, so it can be a map key and a
// large table of Keys costs the garbage collector nothing to scan.
type Key struct {
	Scheme Scheme
	Alg    Algorithm
	n      uint8
	sum    [MaxDigestSize]byte
}

// ParseKey decodes an announced ver (standard base64, padded) for scheme and
// alg. It fails with ErrUnknownAlgorithm / ErrAlgorithmNotAllowed for an
// algorithm the scheme cannot verify, ErrBadVer for invalid base64, and
// ErrVerLength when the digest has the wrong length for alg.
func ParseKey(scheme Scheme, alg Algorithm, ver string) (Key, error) {
	return parseKey(scheme, alg, ver)
}

// ParseKeyBytes is ParseKey for a ver held in bytes; it does not allocate.
func ParseKeyBytes(scheme Scheme, alg Algorithm, ver []byte) (Key, error) {
	return parseKey(scheme, alg, ver)
}

func parseKey[T string | []byte](scheme Scheme, alg Algorithm, ver T) (Key, error) {
	var k Key
	if !alg.Valid() {
		return k, ErrUnknownAlgorithm
	}
	if !scheme.Verifiable(alg) {
		return k, fmt.Errorf("%w: %s for %s", ErrAlgorithmNotAllowed, alg, scheme)
	}
	size := alg.Size()
	if len(ver) != base64.StdEncoding.EncodedLen(size) {
		return k, fmt.Errorf("%w: %d characters, want %d for %s", ErrVerLength,
			len(ver), base64.StdEncoding.EncodedLen(size), alg)
	}
	var buf [MaxDigestSize + 2]byte
	n, err := base64.StdEncoding.Strict().Decode(buf[:], []byte(ver))
	if err != nil {
		return k, fmt.Errorf("%w: %v", ErrBadVer, err)
	}
	if n != size {
		return k, fmt.Errorf("%w: %d bytes, want %d for %s", ErrVerLength, n, size, alg)
	}
	k.Scheme, k.Alg, k.n = scheme, alg, uint8(n)
	copy(k.sum[:], buf[:n])
	return k, nil
}

// NewKey builds a Key from a raw digest. It fails like ParseKey.
func NewKey(scheme Scheme, alg Algorithm, digest []byte) (Key, error) {
	var k Key
	if !alg.Valid() {
		return k, ErrUnknownAlgorithm
	}
	if !scheme.Verifiable(alg) {
		return k, fmt.Errorf("%w: %s for %s", ErrAlgorithmNotAllowed, alg, scheme)
	}
	if len(digest) != alg.Size() {
		return k, fmt.Errorf("%w: %d bytes, want %d for %s", ErrVerLength, len(digest), alg.Size(), alg)
	}
	k.Scheme, k.Alg, k.n = scheme, alg, uint8(len(digest))
	copy(k.sum[:], digest)
	return k, nil
}

// IsZero reports whether k is the zero Key.
func (k Key) IsZero() bool { return k.n == 0 }

// Digest returns a copy of the raw digest.
func (k Key) Digest() []byte { return append([]byte(nil), k.sum[:k.n]...) }

// AppendDigest appends the raw digest to dst.
func (k *Key) AppendDigest(dst []byte) []byte { return append(dst, k.sum[:k.n]...) }

// Ver returns the digest as announced on the wire (standard base64).
func (k Key) Ver() string { return base64.StdEncoding.EncodeToString(k.sum[:k.n]) }

// AppendVer appends the wire form of the digest to dst.
func (k *Key) AppendVer(dst []byte) []byte {
	return base64.StdEncoding.AppendEncode(dst, k.sum[:k.n])
}

// String is "xep0115/sha-1/<ver>", for logs and errors.
func (k Key) String() string {
	if k.IsZero() {
		return "<none>"
	}
	return k.Scheme.String() + "/" + k.Alg.String() + "/" + k.Ver()
}
