package messages_test

// The reference decoders: the same contracts as ParsePresence and
// ParseDiscoInfo, built on encoding/xml instead of the hand-written scanner,
// for the differential fuzz tests.
//
// encoding/xml (Strict) tokenizes, decodes references, normalizes line ends,
// matches end tags and checks characters in text and attribute values. It is
// deliberately looser than XML 1.0 and Namespaces in XML 1.0 in the ways
// listed below; refParse applies each of those rules itself, explicitly,
// rather than the fast decoder giving them up:
//
//  1. Characters: encoding/xml checks UTF-8 and the Char production only in
//     text and attribute values, not in comments, processing instructions
//     or names' surroundings; refParse checks the whole document first.
//  2. It turns a character reference to a surrogate (&#xD800;) into U+FFFD
//     instead of failing; refParse rejects it from the raw token.
//  3. It does not normalize attribute values (XML 1.0 §3.3.3: literal tab,
//     LF, CR and CR LF become a space); refParse re-decodes those values.
//  4. It does not require whitespace between attributes (<a b='1'c='2'>).
//  5. It does not reject duplicate attributes, literal or by expanded name.
//  6. It accepts undeclared prefixes (taking the prefix as the namespace),
//     names that are not QNames (":a", "a:", "a:1"), the xmlns prefix on
//     elements, xmlns:p="" and rebinding xml/xmlns; and it resolves prefixes
//     with the unnormalized declaration value. refParse resolves every name
//     itself from the raw prefixes.
//  7. It accepts text, CDATA and references before or after the root
//     element, a second root element, and no root at all.
//  8. It accepts <?xml ...?> anywhere, with any case, with a loose grammar
//     (missing version, "version = ..."); refParse applies the XMLDecl
//     production and accepts it only at the start of the document. It also
//     accepts a colon in a PI target and no space after the target.
//  9. It returns DTDs and other <!...> declarations as Directive tokens;
//     capsengine refuses them (XMPP forbids DTDs, RFC 6120 §11.1).
//
// It also does not enforce Limits; refParse and the extractors below do.

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/messages"
)

// refSyntaxError is the reference's syntax error; the tests compare error classes,
// not messages.
type refSyntaxError struct{ msg string }

func (e *refSyntaxError) Error() string { return "reference: " + e.msg }

func refErr(format string, args ...any) error {
	return &refSyntaxError{fmt.Sprintf(format, args...)}
}

type refNode struct {
	space, local string
	attrs        []refAttr
	text         []byte // character data directly inside
	children     []*refNode
}

type refAttr struct {
	prefixed     bool
	space, local string
	value        string
}

// attr returns the value of the unprefixed attribute local.
func (n *refNode) attr(local string) string {
	for _, a := range n.attrs {
		if !a.prefixed && a.local == local {
			return a.value
		}
	}
	return ""
}

const (
	refXMLNS   = "http://www.w3.org/XML/1998/namespace"
	refXMLNSNS = "http://www.w3.org/2000/xmlns/"
)

var bom = []byte{0xEF, 0xBB, 0xBF}

// refParse builds the element tree of src, enforcing the rules above and
// the depth and attribute limits.
func refParse(src []byte, lim messages.Limits) (*refNode, error) {
	src = bytes.TrimPrefix(src, bom) // XML 1.0 §4.3.3; encoding/xml would see U+FEFF text
	if !utf8.Valid(src) {
		return nil, refErr("invalid UTF-8")
	}
	for _, r := range string(src) {
		if !refIsChar(r) {
			return nil, refErr("illegal character %U", r)
		}
	}
	d := xml.NewDecoder(bytes.NewReader(src))
	d.Strict = true
	type binding struct{ prefix, uri string }
	var (
		stack    []*refNode
		marks    []int
		ns       []binding
		root     *refNode
		rootDone bool
	)
	nprefixed := func(ns []binding) int {
		n := 0
		for _, b := range ns {
			if b.prefix != "" {
				n++
			}
		}
		return n
	}
	lookup := func(prefix string) (string, bool) {
		if prefix == "xml" {
			return refXMLNS, true
		}
		for i := len(ns) - 1; i >= 0; i-- {
			if ns[i].prefix == prefix {
				return ns[i].uri, true
			}
		}
		return "", prefix == ""
	}
	for {
		start := d.InputOffset()
		tok, err := d.Token()
		if err == io.EOF {
			if root == nil || !rootDone {
				return nil, refErr("no complete root element")
			}
			return root, nil
		}
		if err != nil {
			return nil, err
		}
		raw := src[start:d.InputOffset()]
		switch t := tok.(type) {
		case xml.ProcInst:
			if err := refCheckPI(t.Target, raw, start); err != nil {
				return nil, err
			}
		case xml.Directive:
			return nil, refErr("directive")
		case xml.Comment:
		case xml.CharData:
			if len(stack) == 0 {
				if strings.Trim(string(raw), " \t\r\n") != "" {
					return nil, refErr("text outside the root")
				}
				continue
			}
			if !bytes.HasPrefix(raw, []byte("<![CDATA[")) {
				if err := refCheckCharRefs(raw); err != nil {
					return nil, err
				}
			}
			top := stack[len(stack)-1]
			top.text = append(top.text, t...)
		case xml.StartElement:
			if len(stack) == 0 && rootDone {
				return nil, refErr("second root")
			}
			if len(stack)+1 > lim.MaxDepth {
				return nil, messages.ErrTooDeep
			}
			if len(t.Attr) > lim.MaxAttrs {
				return nil, messages.ErrTooMany
			}
			ename, raws := refParseTag(raw)
			if len(raws) != len(t.Attr) {
				panic(fmt.Sprintf("reference: tag %q: %d raw attributes, encoding/xml has %d", raw, len(raws), len(t.Attr)))
			}
			values := make([]string, len(raws))
			for i, ra := range raws {
				if !ra.spaceBefore {
					return nil, refErr("no whitespace before attribute")
				}
				if err := refCheckCharRefs([]byte(ra.value)); err != nil {
					return nil, err
				}
				values[i] = t.Attr[i].Value
				if strings.ContainsAny(ra.value, "\t\n\r") {
					values[i] = refNormalize(ra.value, ra.quote)
				}
				for j := 0; j < i; j++ {
					if raws[j].name == ra.name {
						return nil, refErr("duplicate attribute %s", ra.name)
					}
				}
			}
			marks = append(marks, len(ns))
			for i, ra := range raws {
				prefix, isDecl := "", false
				switch {
				case ra.name == "xmlns":
					isDecl = true
				case strings.HasPrefix(ra.name, "xmlns:"):
					prefix, isDecl = ra.name[len("xmlns:"):], true
				}
				if !isDecl {
					continue
				}
				uri := values[i]
				switch {
				case prefix != "" && uri == "":
					return nil, refErr("prefix bound to empty name")
				case prefix == "xmlns":
					return nil, refErr("xmlns declared")
				case prefix == "xml" && uri != refXMLNS:
					return nil, refErr("xml rebound")
				case prefix != "xml" && uri == refXMLNS:
					return nil, refErr("xml namespace bound")
				case uri == refXMLNSNS:
					return nil, refErr("xmlns namespace bound")
				}
				if prefix == "" {
					ns = append(ns, binding{prefix, uri})
					continue
				}
				if nprefixed(ns) == lim.MaxNamespaces {
					return nil, messages.ErrTooMany
				}
				ns = append(ns, binding{prefix, uri})
			}
			epfx, elocal, ok := refSplitQName(ename)
			if !ok {
				return nil, refErr("element name %q is not a QName", ename)
			}
			if epfx == "xmlns" {
				return nil, refErr("element with xmlns prefix")
			}
			espace, ok := lookup(epfx)
			if !ok {
				return nil, refErr("undeclared prefix %q", epfx)
			}
			if elocal != t.Name.Local {
				panic(fmt.Sprintf("reference: element %q, encoding/xml says %q", ename, t.Name.Local))
			}
			node := &refNode{space: espace, local: elocal}
			for i, ra := range raws {
				apfx, alocal, ok := refSplitQName(ra.name)
				if !ok {
					return nil, refErr("attribute name %q is not a QName", ra.name)
				}
				a := refAttr{prefixed: apfx != "", local: alocal, value: values[i]}
				switch {
				case apfx == "xmlns":
					a.space = refXMLNSNS
				case apfx != "":
					if a.space, ok = lookup(apfx); !ok {
						return nil, refErr("undeclared prefix %q", apfx)
					}
				}
				for _, b := range node.attrs {
					if b.prefixed && a.prefixed && b.space == a.space && b.local == a.local {
						return nil, refErr("duplicate expanded attribute name")
					}
				}
				node.attrs = append(node.attrs, a)
			}
			if len(stack) > 0 {
				top := stack[len(stack)-1]
				top.children = append(top.children, node)
			} else {
				root = node
			}
			stack = append(stack, node)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
			ns = ns[:marks[len(marks)-1]]
			marks = marks[:len(marks)-1]
			if len(stack) == 0 {
				rootDone = true
			}
		}
	}
}

func refIsChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}

func refIsSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// refSplitQName checks the Namespaces in XML QName production. encoding/xml
// has already checked that name is an XML Name with at most one colon; the
// local part must also be a Name on its own (it may not start with a digit,
// '.', '-' or a combining character), which is asked of encoding/xml.
func refSplitQName(name string) (prefix, local string, ok bool) {
	i := strings.IndexByte(name, ':')
	if i < 0 {
		return "", name, true
	}
	prefix, local = name[:i], name[i+1:]
	if prefix == "" || local == "" || strings.Contains(local, ":") {
		return "", "", false
	}
	d := xml.NewDecoder(strings.NewReader("<" + local + "/>"))
	if _, err := d.Token(); err != nil {
		return "", "", false
	}
	return prefix, local, true
}

type refRawAttr struct {
	name, value string
	quote       byte
	spaceBefore bool
}

// refParseTag splits a start tag encoding/xml has accepted into its raw
// name and attributes.
func refParseTag(raw []byte) (string, []refRawAttr) {
	i := 1
	j := i
	for !refIsSpace(raw[j]) && raw[j] != '/' && raw[j] != '>' {
		j++
	}
	name := string(raw[i:j])
	i = j
	var attrs []refRawAttr
	for {
		k := i
		for refIsSpace(raw[k]) {
			k++
		}
		space := k > i
		i = k
		if raw[i] == '/' || raw[i] == '>' {
			return name, attrs
		}
		j = i
		for !refIsSpace(raw[j]) && raw[j] != '=' {
			j++
		}
		a := refRawAttr{name: string(raw[i:j]), spaceBefore: space}
		for i = j; raw[i] != '='; i++ {
		}
		for i++; refIsSpace(raw[i]); i++ {
		}
		a.quote = raw[i]
		e := bytes.IndexByte(raw[i+1:], a.quote)
		a.value = string(raw[i+1 : i+1+e])
		attrs = append(attrs, a)
		i += e + 2
	}
}

// refNormalize applies XML 1.0 §2.11 and §3.3.3 to a raw attribute value
// with literal whitespace, then lets encoding/xml decode its references.
func refNormalize(raw string, quote byte) string {
	v := strings.ReplaceAll(raw, "\r\n", " ")
	v = strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, v)
	d := xml.NewDecoder(strings.NewReader("<a v=" + string(quote) + v + string(quote) + "/>"))
	tok, err := d.Token()
	if err != nil {
		panic(fmt.Sprintf("reference: renormalizing %q: %v", raw, err))
	}
	return tok.(xml.StartElement).Attr[0].Value
}

// refCheckCharRefs rejects character references to surrogates, which
// encoding/xml turns into U+FFFD. Everything else about the references in
// raw has been checked by encoding/xml.
func refCheckCharRefs(raw []byte) error {
	for {
		i := bytes.Index(raw, []byte("&#"))
		if i < 0 {
			return nil
		}
		raw = raw[i+2:]
		base := 10
		if len(raw) > 0 && raw[0] == 'x' {
			base, raw = 16, raw[1:]
		}
		e := bytes.IndexByte(raw, ';')
		if e < 0 {
			return refErr("unterminated character reference")
		}
		n, err := strconv.ParseUint(string(raw[:e]), base, 64)
		if err != nil {
			return refErr("bad character reference")
		}
		if n >= 0xD800 && n <= 0xDFFF {
			return refErr("character reference to a surrogate")
		}
	}
}

// xmlDeclRE is the XML 1.0 §2.8 XMLDecl production, restricted to version
// 1.0 as encoding/xml is.
var xmlDeclRE = regexp.MustCompile(`^<\?xml[ \t\r\n]+version[ \t\r\n]*=[ \t\r\n]*(?:"1\.0"|'1\.0')` +
	`(?:[ \t\r\n]+encoding[ \t\r\n]*=[ \t\r\n]*(?:"([A-Za-z][A-Za-z0-9._-]*)"|'([A-Za-z][A-Za-z0-9._-]*)'))?` +
	`(?:[ \t\r\n]+standalone[ \t\r\n]*=[ \t\r\n]*(?:"(?:yes|no)"|'(?:yes|no)'))?[ \t\r\n]*\?>$`)

func refCheckPI(target string, raw []byte, start int64) error {
	if strings.Contains(target, ":") {
		return refErr("colon in PI target")
	}
	if strings.EqualFold(target, "xml") {
		if target != "xml" || start != 0 {
			return refErr("reserved PI target")
		}
		m := xmlDeclRE.FindSubmatch(raw)
		if m == nil {
			return refErr("malformed XML declaration")
		}
		enc := string(m[1]) + string(m[2])
		if enc != "" && !strings.EqualFold(enc, "utf-8") {
			return refErr("encoding %q", enc)
		}
		return nil
	}
	rest := raw[2+len(target):]
	if string(rest) != "?>" && !refIsSpace(rest[0]) {
		return refErr("no space after PI target")
	}
	return nil
}

func refStanzaNS(ns string) bool {
	switch ns {
	case "", messages.NSClient, messages.NSServer, messages.NSComponent:
		return true
	}
	return false
}

// refPresence is ParsePresence on encoding/xml.
func refPresence(b []byte) (*messages.Presence, error) {
	lim := messages.DefaultLimits()
	if len(b) > lim.MaxPresenceBytes {
		return nil, messages.ErrTooLarge
	}
	root, err := refParse(b, lim)
	if err != nil {
		return nil, err
	}
	if root.local != "presence" || !refStanzaNS(root.space) {
		return nil, messages.ErrNotPresence
	}
	p := &messages.Presence{
		From: root.attr("from"),
		To:   root.attr("to"),
		ID:   root.attr("id"),
		Type: root.attr("type"),
	}
	caps2 := false
	for _, c := range root.children {
		switch {
		case c.space == messages.NSCaps && c.local == "c" && p.Caps == nil:
			p.Caps = &messages.Caps{Hash: c.attr("hash"), Node: c.attr("node"), Ver: c.attr("ver"), Ext: c.attr("ext")}
		case c.space == messages.NSCaps2 && c.local == "c" && !caps2:
			caps2 = true
			for _, h := range c.children {
				if h.space != messages.NSHashes2 || h.local != "hash" {
					continue
				}
				if len(p.Caps2) == lim.MaxCaps2Hashes {
					return nil, messages.ErrTooMany
				}
				p.Caps2 = append(p.Caps2, messages.Hash{Algo: h.attr("algo"), Value: string(h.text)})
			}
		case c.space == messages.NSMUCUser && c.local == "x":
			p.MUC = true
		}
	}
	return p, nil
}

// refDiscoInfo is ParseDiscoInfo on encoding/xml.
func refDiscoInfo(b []byte) (*hashing.Info, error) {
	lim := messages.DefaultLimits()
	if len(b) > lim.MaxDiscoInfoBytes {
		return nil, messages.ErrTooLarge
	}
	root, err := refParse(b, lim)
	if err != nil {
		return nil, err
	}
	q := root
	switch {
	case root.space == messages.NSDiscoInfo && root.local == "query":
	case root.local == "iq" && refStanzaNS(root.space):
		if root.attr("type") == "error" {
			return nil, messages.ErrIQError
		}
		q = nil
		for _, c := range root.children {
			if c.space == messages.NSDiscoInfo && c.local == "query" {
				q = c
				break
			}
		}
		if q == nil {
			return nil, messages.ErrNoQuery
		}
	default:
		return nil, messages.ErrNotDiscoInfo
	}
	in := &hashing.Info{Node: q.attr("node")}
	fields, values := 0, 0
	for _, c := range q.children {
		switch {
		case c.space == messages.NSDiscoInfo && c.local == "identity":
			if len(in.Identities) == lim.MaxIdentities {
				return nil, messages.ErrTooMany
			}
			id := hashing.Identity{Category: c.attr("category"), Type: c.attr("type"), Name: c.attr("name")}
			for _, a := range c.attrs {
				if a.space == refXMLNS && a.local == "lang" {
					id.Lang = a.value
				}
			}
			in.Identities = append(in.Identities, id)
		case c.space == messages.NSDiscoInfo && c.local == "feature":
			if len(in.Features) == lim.MaxFeatures {
				return nil, messages.ErrTooMany
			}
			in.Features = append(in.Features, c.attr("var"))
		case c.space == messages.NSDataForms && c.local == "x":
			if len(in.Forms) == lim.MaxForms {
				return nil, messages.ErrTooMany
			}
			form := hashing.Form{Type: c.attr("type")}
			for _, fc := range c.children {
				if fc.space != messages.NSDataForms || fc.local != "field" {
					continue
				}
				if fields == lim.MaxFields {
					return nil, messages.ErrTooMany
				}
				fields++
				f := hashing.Field{Var: fc.attr("var"), Type: fc.attr("type")}
				for _, vc := range fc.children {
					if vc.space != messages.NSDataForms || vc.local != "value" {
						continue
					}
					if values == lim.MaxValues {
						return nil, messages.ErrTooMany
					}
					values++
					f.Values = append(f.Values, string(vc.text))
				}
				form.Fields = append(form.Fields, f)
			}
			in.Forms = append(in.Forms, form)
		}
	}
	return in, nil
}

// errClass names the error classes the differential tests compare: the
// "semantic" errors are only returned for well-formed input within limits,
// so both decoders must agree on them exactly; malformed input and limits
// may be reported as either, depending on which problem each meets first.
func errClass(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, messages.ErrNotPresence):
		return "not-presence"
	case errors.Is(err, messages.ErrNotDiscoInfo):
		return "not-disco-info"
	case errors.Is(err, messages.ErrIQError):
		return "iq-error"
	case errors.Is(err, messages.ErrNoQuery):
		return "no-query"
	}
	return "malformed-or-limit"
}
