package hashing

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// Options relaxes verification for answers that real clients send but the
// specifications forbid. The zero Options is strict.
type Options struct {
	// DuplicateFeatures accepts an answer that lists a feature twice when
	// its hash, computed over the features as sent (duplicates kept),
	// matches. About 2% of real answers do this (tkabber, leechcraft,
	// telepathy).
	DuplicateFeatures bool
	// EscapedS accepts an XEP-0115 hash computed over XML-escaped character
	// data (& < > as entities), as aioxmpp computes it.
	EscapedS bool
}

// Method says how an answer was verified.
type Method uint8

const (
	// Strict: the answer follows the specification and hashes to the key.
	Strict Method = iota + 1
	// AsSentDuplicates: verified under Options.DuplicateFeatures.
	AsSentDuplicates
	// Escaped: verified under Options.EscapedS.
	Escaped
)

func (m Method) String() string {
	switch m {
	case Strict:
		return "strict"
	case AsSentDuplicates:
		return "duplicate-features"
	case Escaped:
		return "escaped"
	}
	return fmt.Sprintf("method(%d)", uint8(m))
}

// Options are the leniencies an answer verified by m needs to verify
// again: a stored entry is re-checked under the method it was stored by.
func (m Method) Options() Options {
	switch m {
	case AsSentDuplicates:
		return Options{DuplicateFeatures: true}
	case Escaped:
		return Options{DuplicateFeatures: true, EscapedS: true}
	}
	return Options{}
}

// Compute hashes in under scheme and alg and returns the resulting Key.
func Compute(scheme Scheme, alg Algorithm, in *Info) (Key, error) {
	if !scheme.Emittable(alg) {
		return Key{}, notEmittable(scheme, alg)
	}
	var k Key
	bs := getScratch()
	defer putScratch(bs)
	dst := bs.sbuf[:0]
	defer func() { bs.sbuf = dst }()
	var n int
	var err error
	switch scheme {
	case XEP0115:
		n, err = sum1(&k.sum, &dst, alg, in, false, false)
	case XEP0390:
		n, err = sum2(&k.sum, &dst, alg, in)
	}
	if err != nil {
		return Key{}, err
	}
	k.Scheme, k.Alg, k.n = scheme, alg, uint8(n)
	return k, nil
}

// Verify checks that in hashes to k. It returns how it verified, or a
// *RuleError when in breaks a §5.4 rule (checked before any hashing), or a
// *MismatchError when it hashes to something else.
func Verify(k Key, in *Info, opts Options) (Method, error) {
	if k.IsZero() || !k.Scheme.Verifiable(k.Alg) {
		return 0, fmt.Errorf("%w: %s for %s", ErrAlgorithmNotAllowed, k.Alg, k.Scheme)
	}
	var sum [MaxDigestSize]byte
	// S is built in a pooled buffer: a stack array would escape through
	// the hash function's interface and cost an allocation per answer.
	bs := getScratch()
	defer putScratch(bs)
	dst := bs.sbuf[:0]
	defer func() { bs.sbuf = dst }()
	if k.Scheme == XEP0390 {
		n, err := sum2(&sum, &dst, k.Alg, in)
		if err != nil {
			return 0, err
		}
		if bytes.Equal(sum[:n], k.sum[:k.n]) {
			return Strict, nil
		}
		return 0, mismatch(k, in, sum[:n])
	}

	method := Strict
	n, err := sum1(&sum, &dst, k.Alg, in, false, false)
	if errors.Is(err, ErrDuplicateFeature) && opts.DuplicateFeatures {
		method = AsSentDuplicates
		n, err = sum1(&sum, &dst, k.Alg, in, true, false)
	}
	if err != nil {
		return 0, err
	}
	if bytes.Equal(sum[:n], k.sum[:k.n]) {
		return method, nil
	}
	computed := sum
	if opts.EscapedS && needsEscape(in) {
		n2, err := sum1(&sum, &dst, k.Alg, in, method == AsSentDuplicates, true)
		if err == nil && bytes.Equal(sum[:n2], k.sum[:k.n]) {
			return Escaped, nil
		}
	}
	return 0, mismatch(k, in, computed[:n])
}

func mismatch(k Key, in *Info, got []byte) error {
	return &MismatchError{Node: in.Node, Key: k, Computed: base64.StdEncoding.EncodeToString(got)}
}

func notEmittable(s Scheme, a Algorithm) error {
	if !a.Valid() {
		return ErrUnknownAlgorithm
	}
	return fmt.Errorf("%w: %s for %s", ErrAlgorithmNotAllowed, a, s)
}

func needsEscape(in *Info) bool {
	has := func(v string) bool { return strings.ContainsAny(v, "&<>") }
	for _, id := range in.Identities {
		if has(id.Category) || has(id.Type) || has(id.Lang) || has(id.Name) {
			return true
		}
	}
	for _, f := range in.Features {
		if has(f) {
			return true
		}
	}
	for _, f := range in.Forms {
		for _, fld := range f.Fields {
			if has(fld.Var) {
				return true
			}
			for _, v := range fld.Values {
				if has(v) {
					return true
				}
			}
		}
	}
	return false
}
