package hashing

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha3"
	"crypto/sha512"
	"fmt"

	"golang.org/x/crypto/blake2b"
)

// Algorithm is a hash function from IANA's "Hash Function Textual Names"
// registry, as named in the hash and algo attributes of caps elements.
type Algorithm uint8

// The algorithms this package knows. The zero Algorithm is invalid.
const (
	MD5 Algorithm = iota + 1
	SHA1
	SHA224
	SHA256
	SHA384
	SHA512
	SHA3_256
	SHA3_512
	BLAKE2b256
	BLAKE2b512
	numAlgorithms
)

var algNames = [numAlgorithms]string{
	MD5:        "md5",
	SHA1:       "sha-1",
	SHA224:     "sha-224",
	SHA256:     "sha-256",
	SHA384:     "sha-384",
	SHA512:     "sha-512",
	SHA3_256:   "sha3-256",
	SHA3_512:   "sha3-512",
	BLAKE2b256: "blake2b-256",
	BLAKE2b512: "blake2b-512",
}

var algSizes = [numAlgorithms]uint8{
	MD5:        16,
	SHA1:       20,
	SHA224:     28,
	SHA256:     32,
	SHA384:     48,
	SHA512:     64,
	SHA3_256:   32,
	SHA3_512:   64,
	BLAKE2b256: 32,
	BLAKE2b512: 64,
}

// MaxDigestSize is the largest digest any Algorithm produces, in bytes.
const MaxDigestSize = 64

// ParseAlgorithm returns the Algorithm with IANA name s ("sha-1",
// "sha3-256", ...). Names are matched exactly: peers that send "SHA-1" are
// not following XEP-0115 and get ErrUnknownAlgorithm.
func ParseAlgorithm(s string) (Algorithm, error) {
	for a := MD5; a < numAlgorithms; a++ {
		if algNames[a] == s {
			return a, nil
		}
	}
	return 0, fmt.Errorf("%w: %q", ErrUnknownAlgorithm, s)
}

// parseAlgorithmBytes is ParseAlgorithm for the decoder's hot path; the
// string conversion in the comparison does not allocate.
func parseAlgorithmBytes(b []byte) Algorithm {
	for a := MD5; a < numAlgorithms; a++ {
		if algNames[a] == string(b) {
			return a
		}
	}
	return 0
}

// ParseAlgorithmBytes is ParseAlgorithm without the error value and without
// allocating; it returns 0 for an unknown name.
func ParseAlgorithmBytes(b []byte) Algorithm { return parseAlgorithmBytes(b) }

// String returns the IANA name, or "unknown(N)".
func (a Algorithm) String() string {
	if a.Valid() {
		return algNames[a]
	}
	return fmt.Sprintf("unknown(%d)", uint8(a))
}

// Valid reports whether a is one of the defined algorithms.
func (a Algorithm) Valid() bool { return a >= MD5 && a < numAlgorithms }

// Size is the digest length in bytes, or 0 for an invalid Algorithm.
func (a Algorithm) Size() int {
	if !a.Valid() {
		return 0
	}
	return int(algSizes[a])
}

// Algorithms returns every defined algorithm in a fixed order.
func Algorithms() []Algorithm {
	out := make([]Algorithm, 0, numAlgorithms-1)
	for a := MD5; a < numAlgorithms; a++ {
		out = append(out, a)
	}
	return out
}

// sum hashes b with a into out and returns the digest length. The fixed-size
// array keeps the whole computation off the heap.
func (a Algorithm) sum(out *[MaxDigestSize]byte, b []byte) int {
	switch a {
	case MD5:
		s := md5.Sum(b)
		return copy(out[:], s[:])
	case SHA1:
		s := sha1.Sum(b)
		return copy(out[:], s[:])
	case SHA224:
		s := sha256.Sum224(b)
		return copy(out[:], s[:])
	case SHA256:
		s := sha256.Sum256(b)
		return copy(out[:], s[:])
	case SHA384:
		s := sha512.Sum384(b)
		return copy(out[:], s[:])
	case SHA512:
		s := sha512.Sum512(b)
		return copy(out[:], s[:])
	case SHA3_256:
		s := sha3.Sum256(b)
		return copy(out[:], s[:])
	case SHA3_512:
		s := sha3.Sum512(b)
		return copy(out[:], s[:])
	case BLAKE2b256:
		s := blake2b.Sum256(b)
		return copy(out[:], s[:])
	case BLAKE2b512:
		s := blake2b.Sum512(b)
		return copy(out[:], s[:])
	}
	return 0
}

// Scheme says which specification a hash follows. The same algorithm name
// (sha-256) hashes different input under XEP-0115 and XEP-0390, so a cache
// key must carry both.
type Scheme uint8

const (
	// XEP0115 is XEP-0115 Entity Capabilities: the '<'-separated S string.
	XEP0115 Scheme = 1
	// XEP0390 is XEP-0390 Entity Capabilities 2.0: the 0x1f..0x1c encoding.
	XEP0390 Scheme = 2
)

func (s Scheme) String() string {
	switch s {
	case XEP0115:
		return "xep0115"
	case XEP0390:
		return "xep0390"
	}
	return fmt.Sprintf("scheme(%d)", uint8(s))
}

// Emittable reports whether this package computes a hash of scheme s with a.
// XEP-0115 allows every algorithm but md5, which is accepted only when
// verifying old peers. XEP-0390 excludes the SHA-1 and MD5 families and the
// truncated SHA-2 variants.
func (s Scheme) Emittable(a Algorithm) bool {
	switch s {
	case XEP0115:
		return a.Valid() && a != MD5
	case XEP0390:
		switch a {
		case SHA256, SHA512, SHA3_256, SHA3_512, BLAKE2b256, BLAKE2b512:
			return true
		}
	}
	return false
}

// Verifiable reports whether a hash of scheme s with a can be verified.
func (s Scheme) Verifiable(a Algorithm) bool {
	if s == XEP0115 && a == MD5 {
		return true
	}
	return s.Emittable(a)
}
