package messages

import (
	"unicode/utf8"

	"github.com/capsengine/capsengine/hashing"
)

// The encoders write attribute values in single quotes and escape what XML
// 1.0 requires, plus what would not survive decoding unchanged: '>' in
// text (so "]]>" cannot appear), CR in text as &#xD; (a literal CR becomes
// LF when read back), and tab, LF and CR in attributes as character
// references (literal ones become spaces under attribute-value
// normalization).
//
// Some strings cannot be carried by XML 1.0 at all: invalid UTF-8 and the
// characters outside the Char production (C0 controls other than tab, LF
// and CR, U+FFFE, U+FFFF). Those are written as U+FFFD, the replacement
// character, as encoding/xml's EscapeText does, so the output is always
// well-formed; such a string does not round-trip.

// AppendPresence appends p as a <presence/> element with its from, to, id
// and type attributes (each only when not empty), its caps elements and
// its muc#user marker. No xmlns is written: the element takes the stanza
// namespace of the stream it is sent on.
func AppendPresence(dst []byte, p *Presence) []byte {
	dst = append(dst, "<presence"...)
	dst = appendAttr(dst, "from", p.From)
	dst = appendAttr(dst, "to", p.To)
	dst = appendAttr(dst, "id", p.ID)
	dst = appendAttr(dst, "type", p.Type)
	if p.Caps == nil && len(p.Caps2) == 0 && !p.MUC {
		return append(dst, "/>"...)
	}
	dst = append(dst, '>')
	if p.Caps != nil {
		dst = AppendCaps(dst, p.Caps)
	}
	if len(p.Caps2) > 0 {
		dst = AppendCaps2(dst, p.Caps2)
	}
	if p.MUC {
		dst = append(dst, "<x xmlns='"+NSMUCUser+"'/>"...)
	}
	return append(dst, "</presence>"...)
}

// AppendCaps appends a XEP-0115 <c/> element. Empty fields are left out, so
// legacy caps (Hash "") get no hash attribute.
func AppendCaps(dst []byte, c *Caps) []byte {
	dst = append(dst, "<c xmlns='"+NSCaps+"'"...)
	dst = appendAttr(dst, "hash", c.Hash)
	dst = appendAttr(dst, "node", c.Node)
	dst = appendAttr(dst, "ver", c.Ver)
	dst = appendAttr(dst, "ext", c.Ext)
	return append(dst, "/>"...)
}

// AppendCaps2 appends a XEP-0390 <c/> element with one XEP-0300 <hash/>
// per entry.
func AppendCaps2(dst []byte, hashes []Hash) []byte {
	if len(hashes) == 0 {
		return append(dst, "<c xmlns='"+NSCaps2+"'/>"...)
	}
	dst = append(dst, "<c xmlns='"+NSCaps2+"'>"...)
	for i := range hashes {
		dst = append(dst, "<hash xmlns='"+NSHashes2+"'"...)
		dst = appendAttr(dst, "algo", hashes[i].Algo)
		dst = append(dst, '>')
		dst = appendText(dst, hashes[i].Value)
		dst = append(dst, "</hash>"...)
	}
	return append(dst, "</c>"...)
}

// AppendDiscoInfo appends in as a disco#info <query/> element: node, then
// identities (xml:lang only when Lang is set), features and forms, in the
// order given. Empty attributes are left out.
func AppendDiscoInfo(dst []byte, in *hashing.Info) []byte {
	dst = append(dst, "<query xmlns='"+NSDiscoInfo+"'"...)
	dst = appendAttr(dst, "node", in.Node)
	if len(in.Identities) == 0 && len(in.Features) == 0 && len(in.Forms) == 0 {
		return append(dst, "/>"...)
	}
	dst = append(dst, '>')
	for i := range in.Identities {
		id := &in.Identities[i]
		dst = append(dst, "<identity"...)
		dst = appendAttr(dst, "category", id.Category)
		dst = appendAttr(dst, "type", id.Type)
		dst = appendAttr(dst, "xml:lang", id.Lang)
		dst = appendAttr(dst, "name", id.Name)
		dst = append(dst, "/>"...)
	}
	for _, f := range in.Features {
		dst = append(dst, "<feature"...)
		dst = appendAttr(dst, "var", f)
		dst = append(dst, "/>"...)
	}
	for i := range in.Forms {
		f := &in.Forms[i]
		dst = append(dst, "<x xmlns='"+NSDataForms+"'"...)
		dst = appendAttr(dst, "type", f.Type)
		if len(f.Fields) == 0 {
			dst = append(dst, "/>"...)
			continue
		}
		dst = append(dst, '>')
		for j := range f.Fields {
			fld := &f.Fields[j]
			dst = append(dst, "<field"...)
			dst = appendAttr(dst, "var", fld.Var)
			dst = appendAttr(dst, "type", fld.Type)
			if len(fld.Values) == 0 {
				dst = append(dst, "/>"...)
				continue
			}
			dst = append(dst, '>')
			for _, v := range fld.Values {
				dst = append(dst, "<value>"...)
				dst = appendText(dst, v)
				dst = append(dst, "</value>"...)
			}
			dst = append(dst, "</field>"...)
		}
		dst = append(dst, "</x>"...)
	}
	return append(dst, "</query>"...)
}

// appendAttr appends ` name='value'`, or nothing when value is empty.
func appendAttr(dst []byte, name, value string) []byte {
	if value == "" {
		return dst
	}
	dst = append(dst, ' ')
	dst = append(dst, name...)
	dst = append(dst, '=', '\'')
	dst = appendEscaped(dst, value, &attrEscapes)
	return append(dst, '\'')
}

func appendText(dst []byte, s string) []byte {
	return appendEscaped(dst, s, &textEscapes)
}

// attrEscapes and textEscapes give the replacement for each ASCII byte that
// needs one; "" means the byte is copied. Bytes from 0x80 up are checked as
// UTF-8.
var attrEscapes, textEscapes [utf8.RuneSelf]string

func init() {
	for c := 0; c < 0x20; c++ {
		attrEscapes[c] = "\uFFFD"
		textEscapes[c] = "\uFFFD"
	}
	textEscapes['\t'], textEscapes['\n'] = "", ""
	textEscapes['\r'] = "&#xD;"
	textEscapes['&'] = "&amp;"
	textEscapes['<'] = "&lt;"
	textEscapes['>'] = "&gt;"
	attrEscapes['\t'] = "&#x9;"
	attrEscapes['\n'] = "&#xA;"
	attrEscapes['\r'] = "&#xD;"
	attrEscapes['&'] = "&amp;"
	attrEscapes['<'] = "&lt;"
	attrEscapes['\''] = "&apos;"
}

func appendEscaped(dst []byte, s string, esc *[utf8.RuneSelf]string) []byte {
	last := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if esc[c] == "" {
				i++
				continue
			}
			dst = append(dst, s[last:i]...)
			dst = append(dst, esc[c]...)
			i++
			last = i
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 || r == 0xFFFE || r == 0xFFFF {
			dst = append(dst, s[last:i]...)
			dst = append(dst, "\uFFFD"...)
			i += n
			last = i
			continue
		}
		i += n
	}
	return append(dst, s[last:]...)
}
