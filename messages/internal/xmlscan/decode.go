package xmlscan

import "unicode/utf8"

// The decoders below run only on input the scanner has already checked, so
// every '&' starts a well-formed reference to a legal character.

// appendContent decodes character data: references replaced, CR LF and lone
// CR turned into LF (XML 1.0 §2.11).
func appendContent(dst, raw []byte) []byte {
	for i := 0; i < len(raw); {
		switch c := raw[i]; c {
		case '&':
			var n int
			dst, n = appendRef(dst, raw[i:])
			i += n
		case '\r':
			dst = append(dst, '\n')
			i++
			if i < len(raw) && raw[i] == '\n' {
				i++
			}
		default:
			dst = append(dst, c)
			i++
		}
	}
	return dst
}

// appendLines decodes a CDATA section: only line ends are normalized.
func appendLines(dst, raw []byte) []byte {
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c == '\r' {
			c = '\n'
			if i+1 < len(raw) && raw[i+1] == '\n' {
				i++
			}
		}
		dst = append(dst, c)
	}
	return dst
}

// appendAttr decodes an attribute value (XML 1.0 §3.3.3 for CDATA-type
// attributes, the only type without a DTD): references replaced, each
// literal whitespace character and each CR LF pair turned into one space.
// A reference such as &#9; keeps its character.
func appendAttr(dst, raw []byte) []byte {
	for i := 0; i < len(raw); {
		switch c := raw[i]; c {
		case '&':
			var n int
			dst, n = appendRef(dst, raw[i:])
			i += n
		case '\r':
			dst = append(dst, ' ')
			i++
			if i < len(raw) && raw[i] == '\n' {
				i++
			}
		case '\t', '\n':
			dst = append(dst, ' ')
			i++
		default:
			dst = append(dst, c)
			i++
		}
	}
	return dst
}

// appendRef appends the character the reference at the start of b stands
// for and returns the reference's length.
func appendRef(dst, b []byte) ([]byte, int) {
	if b[1] == '#' {
		r, end, _ := charRef(b, 2)
		return utf8.AppendRune(dst, r), end
	}
	c, n := predefined(b[1:])
	return append(dst, c), n + 1
}
