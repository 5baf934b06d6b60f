package hashing

import (
	"bytes"
	"encoding/base64"
	"slices"
)

// XEP-0390 §4.1 separators.
const (
	sepUnit   = 0x1f // after every string
	sepRecord = 0x1e // after an identity or a field
	sepGroup  = 0x1d // after a form
	sepFile   = 0x1c // after the features, the identities, the forms
)

// AppendCaps2Input appends the XEP-0390 hash function input of in to dst. It
// fails with a *RuleError when in breaks a §5.4 rule: XEP-0390 keeps them.
func AppendCaps2Input(dst []byte, in *Info) ([]byte, error) {
	s := getScratch()
	defer putScratch(s)
	if err := validate(in, s, false); err != nil {
		return dst, err
	}
	return appendCaps2Input(dst, in, s), nil
}

// Caps2 returns the XEP-0390 hash of in under alg, base64-encoded as it
// appears in <hash algo='…'>. alg must be one XEP-0390 allows
// (ErrAlgorithmNotAllowed otherwise).
func Caps2(alg Algorithm, in *Info) (string, error) {
	var buf [512]byte
	b, err := AppendCaps2(buf[:0], alg, in)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// AppendCaps2 is Caps2 appending to dst, using dst's spare capacity as
// working space.
func AppendCaps2(dst []byte, alg Algorithm, in *Info) ([]byte, error) {
	if !XEP0390.Emittable(alg) {
		return dst, notEmittable(XEP0390, alg)
	}
	var sum [MaxDigestSize]byte
	n, err := sum2(&sum, &dst, alg, in)
	if err != nil {
		return dst, err
	}
	return base64.StdEncoding.AppendEncode(dst, sum[:n]), nil
}

func sum2(out *[MaxDigestSize]byte, dst *[]byte, alg Algorithm, in *Info) (int, error) {
	s := getScratch()
	defer putScratch(s)
	if err := validate(in, s, false); err != nil {
		return 0, err
	}
	start := len(*dst)
	b := appendCaps2Input(*dst, in, s)
	n := alg.sum(out, b[start:])
	*dst = b[:start]
	return n, nil
}

// appendCaps2Input encodes every element into s.buf, sorts the encodings as
// octet strings (XEP-0390 sorts encoded strings, not fields one by one) and
// appends them in order. Every form takes part, FORM_TYPE being one of its
// fields; XEP-0390 has no hidden-FORM_TYPE rule.
func appendCaps2Input(b []byte, in *Info, s *scratch) []byte {
	s.buf, s.spans = s.buf[:0], s.spans[:0]

	for _, f := range in.Features {
		s.buf, s.spans = unit(s.buf, s.spans, f)
	}
	b = appendSorted(b, s, 0)
	b = append(b, sepFile)

	for i := range in.Identities {
		id := &in.Identities[i]
		from := len(s.buf)
		s.buf = append(s.buf, id.Category...)
		s.buf = append(s.buf, sepUnit)
		s.buf = append(s.buf, id.Type...)
		s.buf = append(s.buf, sepUnit)
		s.buf = append(s.buf, id.Lang...)
		s.buf = append(s.buf, sepUnit)
		s.buf = append(s.buf, id.Name...)
		s.buf = append(s.buf, sepUnit, sepRecord)
		s.spans = append(s.spans, span{int32(from), int32(len(s.buf))})
	}
	b = appendSorted(b, s, 0)
	b = append(b, sepFile)

	formsAt := len(s.spans)
	for i := range in.Forms {
		f := &in.Forms[i]
		fieldsAt := len(s.spans)
		for j := range f.Fields {
			fld := &f.Fields[j]
			valsAt := len(s.spans)
			for _, v := range fld.Values {
				s.buf, s.spans = unit(s.buf, s.spans, v)
			}
			sortSpans(s.buf, s.spans[valsAt:])
			from := len(s.buf)
			s.buf = append(s.buf, fld.Var...)
			s.buf = append(s.buf, sepUnit)
			for _, sp := range s.spans[valsAt:] {
				s.buf = append(s.buf, s.buf[sp.from:sp.to]...)
			}
			s.buf = append(s.buf, sepRecord)
			s.spans = append(s.spans[:valsAt], span{int32(from), int32(len(s.buf))})
		}
		sortSpans(s.buf, s.spans[fieldsAt:])
		from := len(s.buf)
		for _, sp := range s.spans[fieldsAt:] {
			s.buf = append(s.buf, s.buf[sp.from:sp.to]...)
		}
		s.buf = append(s.buf, sepGroup)
		s.spans = append(s.spans[:fieldsAt], span{int32(from), int32(len(s.buf))})
	}
	b = appendSorted(b, s, formsAt)
	return append(b, sepFile)
}

func unit(buf []byte, spans []span, v string) ([]byte, []span) {
	from := len(buf)
	buf = append(buf, v...)
	buf = append(buf, sepUnit)
	return buf, append(spans, span{int32(from), int32(len(buf))})
}

func sortSpans(buf []byte, spans []span) {
	cmpSpan := func(a, b span) int { return bytes.Compare(buf[a.from:a.to], buf[b.from:b.to]) }
	if !slices.IsSortedFunc(spans, cmpSpan) {
		slices.SortFunc(spans, cmpSpan)
	}
}

// appendSorted sorts s.spans[from:], appends their bytes to b and drops
// them from s.spans.
func appendSorted(b []byte, s *scratch, from int) []byte {
	sortSpans(s.buf, s.spans[from:])
	for _, sp := range s.spans[from:] {
		b = append(b, s.buf[sp.from:sp.to]...)
	}
	s.spans = s.spans[:from]
	return b
}
