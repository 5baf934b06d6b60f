package hashing

import "encoding/base64"

// AppendS appends the XEP-0115 §5.1 verification string S of in to dst. It
// fails with a *RuleError when in breaks a §5.4 rule.
func AppendS(dst []byte, in *Info) ([]byte, error) {
	s := getScratch()
	defer putScratch(s)
	if err := validate(in, s, false); err != nil {
		return dst, err
	}
	return appendS(dst, in, s, false), nil
}

// Ver returns the XEP-0115 ver of in under alg (base64 of the digest of S).
// It fails with a *RuleError when in breaks a §5.4 rule, and with
// ErrAlgorithmNotAllowed for md5, which is only ever verified, never emitted.
func Ver(alg Algorithm, in *Info) (string, error) {
	var buf [512]byte
	b, err := AppendVer(buf[:0], alg, in)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// AppendVer is Ver appending to dst. It uses the spare capacity of dst as
// working space for S, so a caller that reuses dst hashes without allocating.
func AppendVer(dst []byte, alg Algorithm, in *Info) ([]byte, error) {
	if !XEP0115.Emittable(alg) {
		return dst, notEmittable(XEP0115, alg)
	}
	var sum [MaxDigestSize]byte
	n, err := sum1(&sum, &dst, alg, in, false, false)
	if err != nil {
		return dst, err
	}
	return base64.StdEncoding.AppendEncode(dst, sum[:n]), nil
}

// sum1 validates in, builds S in the spare capacity of *dst and hashes it.
// *dst keeps its length; only its capacity may grow.
func sum1(out *[MaxDigestSize]byte, dst *[]byte, alg Algorithm, in *Info, dupFeatures, escaped bool) (int, error) {
	s := getScratch()
	defer putScratch(s)
	if err := validate(in, s, dupFeatures); err != nil {
		return 0, err
	}
	start := len(*dst)
	b := appendS(*dst, in, s, escaped)
	n := alg.sum(out, b[start:])
	*dst = b[:start]
	return n, nil
}

// appendS writes S in the order validate left in s. With escaped set it
// writes character data XML-escaped, as aioxmpp does.
func appendS(b []byte, in *Info, s *scratch, escaped bool) []byte {
	for i := range in.Identities {
		id := &in.Identities[at(s.ids, i)]
		b = appendText(b, id.Category, escaped)
		b = append(b, '/')
		b = appendText(b, id.Type, escaped)
		b = append(b, '/')
		b = appendText(b, id.Lang, escaped)
		b = append(b, '/')
		b = appendText(b, id.Name, escaped)
		b = append(b, '<')
	}
	for i := range in.Features {
		b = appendText(b, in.Features[at(s.feats, i)], escaped)
		b = append(b, '<')
	}
	for _, fr := range s.forms {
		f := &in.Forms[fr.idx]
		b = appendText(b, fr.formType, escaped)
		b = append(b, '<')
		for _, fi := range sortedFields(f, s) {
			fld := &f.Fields[fi]
			b = appendText(b, fld.Var, escaped)
			b = append(b, '<')
			order := sortedValues(fld.Values, s)
			for vi := range fld.Values {
				b = appendText(b, fld.Values[at(order, vi)], escaped)
				b = append(b, '<')
			}
		}
	}
	return b
}

// appendText is small enough to inline, so the common raw case costs one
// copy and no call.
func appendText(b []byte, v string, escaped bool) []byte {
	if escaped {
		return appendEscaped(b, v)
	}
	return append(b, v...)
}

func appendEscaped(b []byte, v string) []byte {
	last := 0
	for i := 0; i < len(v); i++ {
		var esc string
		switch v[i] {
		case '&':
			esc = "&amp;"
		case '<':
			esc = "&lt;"
		case '>':
			esc = "&gt;"
		default:
			continue
		}
		b = append(b, v[last:i]...)
		b = append(b, esc...)
		last = i + 1
	}
	return append(b, v[last:]...)
}
