// Package xmlscan is a validating, namespace-aware XML 1.0 pull scanner over
// one in-memory document, built for decoding XMPP stanzas on a hot path.
//
// It checks everything a conforming non-validating processor checks for a
// document without a DTD, plus the Namespaces in XML 1.0 constraints:
// well-formed names and QNames, declared prefixes, unique attributes (by
// name and by expanded name), matching end tags, references to the five
// predefined entities and to legal characters only, no "]]>" in text, no
// "--" inside comments, UTF-8 and the XML Char production everywhere, a
// strict XML declaration, nothing but Misc outside the root. It refuses DTDs
// outright: XMPP forbids them (RFC 6120 §11.1), and without one no other
// entity can be defined.
//
// Nothing is copied unless it has to be: names, attribute values and text are
// subslices of the input, and only values that contain a reference or need
// whitespace normalization are decoded, on request, into a scratch buffer the
// Scanner reuses. Every slice it returns is valid until the next Reset.
//
// The Scanner never recurses and never allocates in steady state: its element
// stack is bounded by Limits.MaxDepth, its attribute list by Limits.MaxAttrs,
// its namespace bindings by Limits.MaxNamespaces, and its decode buffer
// grows only with the values callers ask for, a small multiple of the input
// at most. Every byte is looked at a bounded number of times.
package xmlscan

import (
	"bytes"
	"math"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// Namespace names fixed by Namespaces in XML 1.0.
const (
	XMLNamespace   = "http://www.w3.org/XML/1998/namespace"
	XMLNSNamespace = "http://www.w3.org/2000/xmlns/"
)

// Kind is the kind of token Next returned.
type Kind uint8

const (
	// EOF: the document ended after a complete root element and its Misc.
	EOF Kind = iota
	// StartElement: Space, Local and the Attr methods describe the element.
	StartElement
	// EndElement: Space and Local describe the element that ended. A
	// self-closing tag yields a StartElement and then an EndElement.
	EndElement
	// CharData: a run of text or one CDATA section inside the root.
	// Comments and processing instructions split runs but are not tokens.
	CharData
)

// ErrorKind classifies an *Error.
type ErrorKind uint8

const (
	// Syntax: the document is not well-formed or not namespace-well-formed.
	Syntax ErrorKind = iota + 1
	// TooDeep: an element would be nested deeper than Limits.MaxDepth.
	TooDeep
	// TooManyAttrs: an element carries more than Limits.MaxAttrs attributes.
	TooManyAttrs
	// TooManyNamespaces: more than Limits.MaxNamespaces prefixes are
	// declared in one scope.
	TooManyNamespaces
)

// Error is the error every Scanner method returns.
type Error struct {
	Kind   ErrorKind
	Offset int // byte offset in the input where the problem was found
	Msg    string
}

func (e *Error) Error() string {
	return "xmlscan: " + e.Msg + " at offset " + strconv.Itoa(e.Offset)
}

// Limits bound the Scanner's memory and work. All must be positive.
type Limits struct {
	MaxDepth int // open elements, the root counting as 1
	MaxAttrs int // attributes on one element, namespace declarations included
	// MaxNamespaces bounds the prefixed namespace declarations in scope at
	// once. Resolving a prefix walks them, so without a bound a hostile
	// document could make every element cost thousands of comparisons.
	MaxNamespaces int
}

// Positions are int32 offsets into the input and namespaces are indexes
// into Scanner.uris, so that the per-tag records hold no pointers: appending
// them is a plain copy, with no write barriers and half the bytes.

type span struct{ start, end int32 }

// Indexes into Scanner.uris fixed for every document.
const (
	nsNone  = 0 // no namespace
	nsXML   = 1 // XMLNamespace, bound to the xml prefix
	nsXMLNS = 2 // XMLNSNamespace, of namespace declarations with a prefix
	nsFirst = 3 // the first declared namespace name
)

type attr struct {
	name, local, value span // value: between the quotes, undecoded
	ns                 int32
	prefixed           bool
	norm               bool // value holds a reference or literal whitespace to rewrite
}

type frame struct {
	name, local span // name: the raw QName, for matching the end tag
	ns          int32
	defNS       int32 // the default namespace inside this element
	nsMark      int32 // len(Scanner.ns) before this element's declarations
}

// binding is one prefixed namespace declaration. The default namespace is
// kept per frame instead, so that unprefixed names, nearly all of them,
// resolve without a search.
type binding struct {
	prefix span
	uri    int32
}

// MaxInput is the longest document a Scanner reads, in bytes.
const MaxInput = math.MaxInt32

// Scanner reads one document. The zero Scanner is ready for Reset. It is not
// safe for concurrent use.
type Scanner struct {
	src      []byte
	pos      int
	docStart int // after a byte order mark: where an XML declaration may be
	lim      Limits

	stack   []frame
	ns      []binding
	attrs   []attr
	uris    [][]byte
	scratch []byte
	err     error

	rootDone   bool
	pendingEnd bool // the current start tag was self-closing

	// current token
	curNS     int32
	curLocal  span
	text      span
	textNorm  bool
	textCDATA bool
}

var fixedURIs = [nsFirst][]byte{nsXML: []byte(XMLNamespace), nsXMLNS: []byte(XMLNSNamespace)}

// Reset starts scanning src. Slices from the previous document become
// invalid.
func (s *Scanner) Reset(src []byte, lim Limits) {
	s.src = src
	s.pos = 0
	s.docStart = 0
	if len(src) >= 3 && src[0] == 0xEF && src[1] == 0xBB && src[2] == 0xBF {
		// XML 1.0 §4.3.3: a UTF-8 entity may begin with a byte order mark.
		s.pos, s.docStart = 3, 3
	}
	s.lim = lim
	s.stack = s.stack[:0]
	s.ns = s.ns[:0]
	s.attrs = s.attrs[:0]
	if len(s.uris) > nsFirst {
		clear(s.uris[nsFirst:]) // drop references into the old input
	}
	s.uris = append(s.uris[:0], fixedURIs[:]...)
	s.scratch = s.scratch[:0]
	s.err = nil
	s.rootDone = false
	s.pendingEnd = false
	s.curNS, s.curLocal, s.text = nsNone, span{}, span{}
	s.textNorm, s.textCDATA = false, false
	if len(src) > MaxInput {
		s.fail(0, "document too large")
	}
}

// Offset is the byte offset just past the last token.
func (s *Scanner) Offset() int { return s.pos }

// Depth is the number of open elements: after a StartElement it counts that
// element, after an EndElement it no longer does.
func (s *Scanner) Depth() int { return len(s.stack) }

// Space is the namespace name of the current element, nil for none.
func (s *Scanner) Space() []byte { return s.uris[s.curNS] }

// Local is the local name of the current element.
func (s *Scanner) Local() []byte { return s.bytes(s.curLocal) }

func (s *Scanner) bytes(sp span) []byte { return s.src[sp.start:sp.end:sp.end] }

// NumAttrs is the number of attributes of the current start tag, namespace
// declarations included.
func (s *Scanner) NumAttrs() int { return len(s.attrs) }

// AttrName returns the namespace name and local name of attribute i of the
// current start tag, in document order. space is nil exactly when the
// attribute has no prefix: unprefixed attributes are in no namespace, and
// a prefix is never bound to the empty name. A namespace declaration with a
// prefix is in XMLNSNamespace.
func (s *Scanner) AttrName(i int) (space, local []byte) {
	a := &s.attrs[i]
	return s.uris[a.ns], s.bytes(a.local)
}

// AttrValue returns the normalized value of attribute i (XML 1.0 §3.3.3:
// references replaced, each literal tab, newline or carriage return, and
// each CR LF pair, turned into one space).
func (s *Scanner) AttrValue(i int) []byte {
	a := &s.attrs[i]
	if !a.norm {
		return s.bytes(a.value)
	}
	start := len(s.scratch)
	s.scratch = appendAttr(s.scratch, s.bytes(a.value))
	return s.scratch[start:len(s.scratch):len(s.scratch)]
}

// Attr returns the value of the current start tag's attribute named local
// with no prefix, and whether it is there.
func (s *Scanner) Attr(local string) ([]byte, bool) {
	for i := range s.attrs {
		a := &s.attrs[i]
		if !a.prefixed && string(s.bytes(a.local)) == local {
			return s.AttrValue(i), true
		}
	}
	return nil, false
}

// Text returns the character data of the current CharData token with
// references replaced and line ends normalized (XML 1.0 §2.11).
func (s *Scanner) Text() []byte {
	if !s.textNorm {
		return s.bytes(s.text)
	}
	start := len(s.scratch)
	s.scratch = s.appendText(s.scratch)
	return s.scratch[start:len(s.scratch):len(s.scratch)]
}

func (s *Scanner) appendText(dst []byte) []byte {
	text := s.bytes(s.text)
	switch {
	case !s.textNorm:
		return append(dst, text...)
	case s.textCDATA:
		return appendLines(dst, text)
	}
	return appendContent(dst, text)
}

// ElementText consumes the element whose StartElement was just returned,
// through its end tag, and returns the concatenation of the character data
// directly inside it (child elements are checked and skipped, their text is
// not included). An element with no character data yields nil.
func (s *Scanner) ElementText() ([]byte, error) {
	if s.pendingEnd {
		s.pendingEnd = false
		s.pop()
		return nil, nil
	}
	depth := len(s.stack)
	var first []byte
	start, n := 0, 0
	for {
		k, err := s.Next()
		if err != nil {
			return nil, err
		}
		switch k {
		case CharData:
			switch n {
			case 0:
				first = s.Text()
			case 1:
				// A second run: from here on build the value in scratch.
				start = len(s.scratch)
				s.scratch = append(s.scratch, first...)
				s.scratch = s.appendText(s.scratch)
			default:
				s.scratch = s.appendText(s.scratch)
			}
			n++
		case StartElement:
			if err := s.Skip(); err != nil {
				return nil, err
			}
		case EndElement:
			if len(s.stack) < depth {
				if n > 1 {
					return s.scratch[start:len(s.scratch):len(s.scratch)], nil
				}
				return first, nil
			}
		}
	}
}

// Skip consumes the element whose StartElement was just returned, through
// its end tag, checking it as thoroughly as Next would.
func (s *Scanner) Skip() error {
	if s.pendingEnd {
		s.pendingEnd = false
		s.pop()
		return nil
	}
	depth := len(s.stack)
	for {
		k, err := s.Next()
		if err != nil {
			return err
		}
		if k == EndElement && len(s.stack) < depth {
			return nil
		}
	}
}

// Next returns the next token. After an error every call returns the same
// error; after EOF, EOF.
func (s *Scanner) Next() (Kind, error) {
	if s.err != nil {
		return EOF, s.err
	}
	if s.pendingEnd {
		s.pendingEnd = false
		s.pop()
		return EndElement, nil
	}
	if len(s.stack) == 0 {
		return s.outside()
	}
	src := s.src
	for {
		p := s.pos
		if p >= len(src) {
			return EOF, s.fail(p, "unexpected EOF")
		}
		if src[p] != '<' {
			return s.charData()
		}
		if p+1 >= len(src) {
			return EOF, s.fail(p+1, "unexpected EOF")
		}
		switch src[p+1] {
		case '/':
			return s.endTag()
		case '?':
			if err := s.procInst(); err != nil {
				return EOF, err
			}
		case '!':
			rest := src[p:]
			switch {
			case bytes.HasPrefix(rest, []byte("<!--")):
				if err := s.comment(); err != nil {
					return EOF, err
				}
			case bytes.HasPrefix(rest, []byte("<![CDATA[")):
				return s.cdata()
			default:
				return EOF, s.markupDecl(p)
			}
		default:
			return s.startTag()
		}
	}
}

// outside scans the prolog or the epilog: Misc up to the root or the end.
func (s *Scanner) outside() (Kind, error) {
	src := s.src
	for {
		p := skipSpace(src, s.pos)
		s.pos = p
		if p >= len(src) {
			if s.rootDone {
				return EOF, nil
			}
			return EOF, s.fail(p, "no root element")
		}
		if src[p] != '<' {
			if s.rootDone {
				return EOF, s.fail(p, "text after the root element")
			}
			return EOF, s.fail(p, "text before the root element")
		}
		if p+1 >= len(src) {
			return EOF, s.fail(p+1, "unexpected EOF")
		}
		switch src[p+1] {
		case '?':
			if err := s.procInst(); err != nil {
				return EOF, err
			}
		case '!':
			if !bytes.HasPrefix(src[p:], []byte("<!--")) {
				if bytes.HasPrefix(src[p:], []byte("<![CDATA[")) {
					return EOF, s.fail(p, "CDATA section outside the root element")
				}
				return EOF, s.markupDecl(p)
			}
			if err := s.comment(); err != nil {
				return EOF, err
			}
		case '/':
			return EOF, s.fail(p, "end tag outside the root element")
		default:
			if s.rootDone {
				return EOF, s.fail(p, "a second root element")
			}
			return s.startTag()
		}
	}
}

func (s *Scanner) markupDecl(p int) error {
	if bytes.HasPrefix(s.src[p:], []byte("<!DOCTYPE")) {
		return s.fail(p, "document type declarations are not allowed")
	}
	return s.fail(p, "invalid <! sequence")
}

func (s *Scanner) fail(off int, msg string) error {
	return s.failKind(Syntax, off, msg)
}

func (s *Scanner) failKind(k ErrorKind, off int, msg string) error {
	s.err = &Error{Kind: k, Offset: off, Msg: msg}
	return s.err
}

func (s *Scanner) eof() error { return s.fail(len(s.src), "unexpected EOF") }

func (s *Scanner) startTag() (Kind, error) {
	src := s.src
	start := s.pos
	nameAt := start + 1
	p, flags, err := s.name(nameAt, "expected element name after <")
	if err != nil {
		return EOF, err
	}
	qname := span{int32(nameAt), int32(p)}
	local := qname
	if flags&nameColon != 0 {
		if local, err = s.splitQName(qname); err != nil {
			return EOF, err
		}
	}
	s.attrs = s.attrs[:0]
	selfClosing := false
	for {
		q := p
		for q < len(src) && isSpace(src[q]) {
			q++
		}
		if q >= len(src) {
			return EOF, s.eof()
		}
		c := src[q]
		if c == '>' {
			p = q + 1
			break
		}
		if c == '/' {
			if q+1 >= len(src) {
				return EOF, s.eof()
			}
			if src[q+1] != '>' {
				return EOF, s.fail(q, "expected /> in element")
			}
			p = q + 2
			selfClosing = true
			break
		}
		if q == p {
			return EOF, s.fail(q, "expected whitespace before attribute")
		}
		ne, flags, err := s.name(q, "expected attribute name in element")
		if err != nil {
			return EOF, err
		}
		if len(s.attrs) >= s.lim.MaxAttrs {
			return EOF, s.failKind(TooManyAttrs, q, "too many attributes")
		}
		a := attr{name: span{int32(q), int32(ne)}}
		a.local = a.name
		if flags&nameColon != 0 {
			if a.local, err = s.splitQName(a.name); err != nil {
				return EOF, err
			}
			a.prefixed = true
		}
		p = skipSpace(src, ne)
		if p >= len(src) {
			return EOF, s.eof()
		}
		if src[p] != '=' {
			return EOF, s.fail(p, "attribute name without = in element")
		}
		p = skipSpace(src, p+1)
		if p >= len(src) {
			return EOF, s.eof()
		}
		quote := src[p]
		if quote != '"' && quote != '\'' {
			return EOF, s.fail(p, "unquoted or missing attribute value in element")
		}
		end, norm, err := s.attrValue(p+1, quote)
		if err != nil {
			return EOF, err
		}
		a.value, a.norm = span{int32(p + 1), int32(end)}, norm
		s.attrs = append(s.attrs, a)
		p = end + 1
	}
	if len(s.stack) >= s.lim.MaxDepth {
		return EOF, s.failKind(TooDeep, start, "elements nested too deeply")
	}
	f := frame{name: qname, local: local, nsMark: int32(len(s.ns))}
	if len(s.stack) > 0 {
		f.defNS = s.stack[len(s.stack)-1].defNS
	}
	if err := s.declare(start, &f.defNS); err != nil {
		return EOF, err
	}
	f.ns = f.defNS
	if local != qname {
		prefix := span{qname.start, local.start - 1}
		if f.ns, err = s.resolvePrefix(prefix, nameAt); err != nil {
			return EOF, err
		}
	}
	if err := s.resolveAttrs(start); err != nil {
		return EOF, err
	}
	s.stack = append(s.stack, f)
	s.curNS, s.curLocal = f.ns, f.local
	s.pos = p
	s.pendingEnd = selfClosing
	return StartElement, nil
}

// splitQName returns the local part of a name that contains a colon and
// checks that it is a QName (Namespaces in XML 1.0 §4): one colon, neither
// part empty, the local part starting with a name-start character.
func (s *Scanner) splitQName(name span) (span, error) {
	q := s.bytes(name)
	i := bytes.IndexByte(q, ':')
	if i == 0 || i == len(q)-1 || bytes.IndexByte(q[i+1:], ':') >= 0 {
		return span{}, s.fail(int(name.start), "name is not a valid QName")
	}
	local := q[i+1:]
	if c := local[0]; c < utf8.RuneSelf {
		if nameTab[c]&nameStart == 0 {
			return span{}, s.fail(int(name.start), "name is not a valid QName")
		}
	} else if r, _ := utf8.DecodeRune(local); !unicode.Is(first, r) {
		return span{}, s.fail(int(name.start), "name is not a valid QName")
	}
	return span{name.start + int32(i) + 1, name.end}, nil
}

// declare pushes the namespace declarations of the current start tag and
// updates *defNS, the default namespace inside the element, enforcing
// Namespaces in XML 1.0 §3: no empty prefixed binding (that is 1.1), xml
// bound only to its own name and that name to no other prefix, xmlns never
// declared, the xmlns name never bound.
func (s *Scanner) declare(off int, defNS *int32) error {
	for i := range s.attrs {
		a := &s.attrs[i]
		if !a.prefixed {
			if string(s.bytes(a.name)) != "xmlns" {
				continue
			}
			uri := s.AttrValue(i)
			switch string(uri) {
			case XMLNamespace:
				return s.fail(off, "the XML namespace bound to another prefix")
			case XMLNSNamespace:
				return s.fail(off, "the xmlns namespace must not be bound")
			case "": // xmlns='' undeclares
				*defNS = nsNone
				continue
			}
			*defNS = s.addURI(uri)
			continue
		}
		if a.local.start-a.name.start != 6 || string(s.src[a.name.start:a.name.start+6]) != "xmlns:" {
			continue
		}
		a.ns = nsXMLNS
		prefix, uri := s.bytes(a.local), s.AttrValue(i)
		switch {
		case len(uri) == 0:
			return s.fail(off, "namespace prefix bound to the empty name")
		case string(prefix) == "xmlns":
			return s.fail(off, "the xmlns prefix must not be declared")
		case string(prefix) == "xml":
			if string(uri) != XMLNamespace {
				return s.fail(off, "the xml prefix bound to another name")
			}
		case string(uri) == XMLNamespace:
			return s.fail(off, "the XML namespace bound to another prefix")
		case string(uri) == XMLNSNamespace:
			return s.fail(off, "the xmlns namespace must not be bound")
		}
		if len(s.ns) >= s.lim.MaxNamespaces {
			return s.failKind(TooManyNamespaces, off, "too many namespace declarations in scope")
		}
		s.ns = append(s.ns, binding{prefix: a.local, uri: s.addURI(uri)})
	}
	return nil
}

func (s *Scanner) addURI(uri []byte) int32 {
	s.uris = append(s.uris, uri)
	return int32(len(s.uris) - 1)
}

func (s *Scanner) lookup(prefix []byte) (int32, bool) {
	for i := len(s.ns) - 1; i >= 0; i-- {
		if string(s.bytes(s.ns[i].prefix)) == string(prefix) {
			return s.ns[i].uri, true
		}
	}
	return nsNone, false
}

// resolvePrefix returns the namespace an element prefix stands for.
func (s *Scanner) resolvePrefix(prefix span, off int) (int32, error) {
	switch p := s.bytes(prefix); string(p) {
	case "xml":
		return nsXML, nil
	case "xmlns":
		return nsNone, s.fail(off, "element name with the xmlns prefix")
	default:
		ns, ok := s.lookup(p)
		if !ok {
			return nsNone, s.fail(off, "undeclared namespace prefix")
		}
		return ns, nil
	}
}

// resolveAttrs sets the namespace of prefixed attributes and rejects
// duplicates, both literal (XML 1.0 Unique Att Spec) and by expanded name
// (Namespaces in XML 1.0 §6.3).
func (s *Scanner) resolveAttrs(off int) error {
	for j := range s.attrs {
		a := &s.attrs[j]
		if a.prefixed && a.ns == nsNone { // declarations already have theirs
			prefix := s.src[a.name.start : a.local.start-1]
			if string(prefix) == "xml" {
				a.ns = nsXML
			} else {
				ns, ok := s.lookup(prefix)
				if !ok {
					return s.fail(off, "undeclared namespace prefix")
				}
				a.ns = ns
			}
		}
		local := s.bytes(a.local)
		for i := 0; i < j; i++ {
			b := &s.attrs[i]
			if a.prefixed == b.prefixed && string(local) == string(s.bytes(b.local)) &&
				string(s.uris[a.ns]) == string(s.uris[b.ns]) {
				return s.fail(off, "duplicate attribute")
			}
		}
	}
	return nil
}

func (s *Scanner) endTag() (Kind, error) {
	src := s.src
	nameAt := s.pos + 2
	p := nameAt
	for p < len(src) && nameTab[src[p]]&nameChar != 0 {
		p++
	}
	top := &s.stack[len(s.stack)-1]
	name := s.bytes(top.name)
	if string(src[nameAt:p]) != string(name) {
		if p >= len(src) {
			return EOF, s.eof()
		}
		return EOF, s.fail(nameAt, "element <"+string(name)+"> closed by </"+string(src[nameAt:p])+">")
	}
	p = skipSpace(src, p)
	if p >= len(src) {
		return EOF, s.eof()
	}
	if src[p] != '>' {
		return EOF, s.fail(p, "invalid characters between </"+string(name)+" and >")
	}
	s.pos = p + 1
	s.pop()
	return EndElement, nil
}

func (s *Scanner) pop() {
	f := &s.stack[len(s.stack)-1]
	s.curNS, s.curLocal = f.ns, f.local
	s.ns = s.ns[:f.nsMark]
	s.stack = s.stack[:len(s.stack)-1]
	if len(s.stack) == 0 {
		s.rootDone = true
	}
}

// comment consumes "<!--" ... "-->" at s.pos.
func (s *Scanner) comment() error {
	src := s.src
	p := s.pos + 4
	i := bytes.Index(src[p:], []byte("--"))
	if i < 0 {
		return s.eof()
	}
	end := p + i
	if end+2 >= len(src) {
		return s.eof()
	}
	if src[end+2] != '>' {
		return s.fail(end, `invalid sequence "--" not allowed in comments`)
	}
	if err := s.chars(p, end); err != nil {
		return err
	}
	s.pos = end + 3
	return nil
}

// procInst consumes a processing instruction or the XML declaration.
func (s *Scanner) procInst() error {
	src := s.src
	start := s.pos
	nameAt := start + 2
	p, _, err := s.name(nameAt, "expected target name after <?")
	if err != nil {
		return err
	}
	target := src[nameAt:p]
	if bytes.IndexByte(target, ':') >= 0 {
		// Namespaces in XML 1.0 §7.
		return s.fail(nameAt, "colon in processing instruction target")
	}
	if len(target) == 3 && bytes.EqualFold(target, []byte("xml")) {
		if string(target) != "xml" || start != s.docStart {
			return s.fail(nameAt, "reserved processing instruction target")
		}
		return s.xmlDecl(p)
	}
	if p+1 < len(src) && src[p] == '?' && src[p+1] == '>' {
		s.pos = p + 2
		return nil
	}
	if p >= len(src) {
		return s.eof()
	}
	if !isSpace(src[p]) {
		return s.fail(p, "expected whitespace after processing instruction target")
	}
	i := bytes.Index(src[p:], []byte("?>"))
	if i < 0 {
		return s.eof()
	}
	if err := s.chars(p, p+i); err != nil {
		return err
	}
	s.pos = p + i + 2
	return nil
}

// xmlDecl checks XML 1.0 §2.8 XMLDecl after "<?xml". Only version 1.0 and
// the UTF-8 encoding are accepted: this scanner reads nothing else.
func (s *Scanner) xmlDecl(p int) error {
	v, p, ok, err := s.pseudoAttr(p, "version")
	if err != nil {
		return err
	}
	if !ok {
		return s.fail(p, "XML declaration without version")
	}
	if string(v) != "1.0" {
		return s.fail(p, "unsupported XML version")
	}
	v, p, ok, err = s.pseudoAttr(p, "encoding")
	if err != nil {
		return err
	}
	if ok && !bytes.EqualFold(v, []byte("utf-8")) {
		return s.fail(p, "unsupported encoding")
	}
	v, p, ok, err = s.pseudoAttr(p, "standalone")
	if err != nil {
		return err
	}
	if ok && string(v) != "yes" && string(v) != "no" {
		return s.fail(p, "invalid standalone declaration")
	}
	p = skipSpace(s.src, p)
	if !bytes.HasPrefix(s.src[p:], []byte("?>")) {
		if p+2 > len(s.src) {
			return s.eof()
		}
		return s.fail(p, "malformed XML declaration")
	}
	s.pos = p + 2
	return nil
}

// pseudoAttr reads S name Eq quoted-value at p if name is there.
func (s *Scanner) pseudoAttr(p int, name string) (val []byte, next int, ok bool, err error) {
	src := s.src
	q := skipSpace(src, p)
	if q == p || !bytes.HasPrefix(src[q:], []byte(name)) {
		return nil, p, false, nil
	}
	q = skipSpace(src, q+len(name))
	if q >= len(src) {
		return nil, p, false, s.eof()
	}
	if src[q] != '=' {
		return nil, p, false, s.fail(q, "malformed XML declaration")
	}
	q = skipSpace(src, q+1)
	if q >= len(src) {
		return nil, p, false, s.eof()
	}
	quote := src[q]
	if quote != '"' && quote != '\'' {
		return nil, p, false, s.fail(q, "malformed XML declaration")
	}
	i := bytes.IndexByte(src[q+1:], quote)
	if i < 0 {
		return nil, p, false, s.eof()
	}
	return src[q+1 : q+1+i], q + 2 + i, true, nil
}

func (s *Scanner) cdata() (Kind, error) {
	src := s.src
	p := s.pos + len("<![CDATA[")
	i := bytes.Index(src[p:], []byte("]]>"))
	if i < 0 {
		return EOF, s.fail(len(src), "unexpected EOF in CDATA section")
	}
	if err := s.chars(p, p+i); err != nil {
		return EOF, err
	}
	s.text = span{int32(p), int32(p + i)}
	s.textNorm = bytes.IndexByte(src[p:p+i], '\r') >= 0
	s.textCDATA = true
	s.pos = p + i + 3
	return CharData, nil
}

// charData scans text up to the next '<'.
func (s *Scanner) charData() (Kind, error) {
	src := s.src
	start := s.pos
	end := bytes.IndexByte(src[start:], '<')
	if end < 0 {
		return EOF, s.eof() // inside the root, text must be followed by markup
	}
	end += start
	// Fast path: most text is plain ASCII with nothing to decode. The
	// loop has no branch but the loop's own.
	var acc uint8
	for _, c := range src[start:end] {
		acc |= textTab[c]
	}
	norm := false
	if acc != 0 {
		var err error
		if norm, err = s.checkText(start, end); err != nil {
			return EOF, err
		}
	}
	s.text = span{int32(start), int32(end)}
	s.textNorm = norm
	s.textCDATA = false
	s.pos = end
	return CharData, nil
}

// checkText checks character data src[p:end], which holds no '<', and
// reports whether it needs decoding.
func (s *Scanner) checkText(p, end int) (norm bool, err error) {
	src := s.src
	for p < end {
		c := src[p]
		if textTab[c] == 0 {
			p++
			continue
		}
		switch {
		case c == '&':
			q, err := s.reference(p)
			if err != nil {
				return false, err
			}
			p = q
			norm = true
		case c == ']':
			if p+2 < len(src) && src[p+1] == ']' && src[p+2] == '>' {
				return false, s.fail(p, "unescaped ]]> not in CDATA section")
			}
			p++
		case c == '\r':
			norm = true
			p++
		case c < utf8.RuneSelf:
			return false, s.fail(p, "illegal character code "+strconv.Itoa(int(c)))
		default:
			n, err := s.char(p)
			if err != nil {
				return false, err
			}
			p += n
		}
	}
	return norm, nil
}

// attrValue scans an attribute value starting after its opening quote and
// returns the offset of the closing quote and whether the value needs
// decoding.
func (s *Scanner) attrValue(p int, quote byte) (int, bool, error) {
	src := s.src
	if i := bytes.IndexByte(src[p:], quote); i >= 0 {
		// Fast path, as in charData.
		var acc uint8
		for _, c := range src[p : p+i] {
			acc |= attrTab[c]
		}
		if acc == 0 {
			return p + i, false, nil
		}
	}
	norm := false
	for p < len(src) {
		c := src[p]
		if c == quote {
			return p, norm, nil
		}
		if attrTab[c] == 0 {
			p++
			continue
		}
		switch {
		case c == '<':
			return 0, false, s.fail(p, "unescaped < inside quoted string")
		case c == '&':
			q, err := s.reference(p)
			if err != nil {
				return 0, false, err
			}
			p = q
			norm = true
		case c == '\t' || c == '\n' || c == '\r':
			norm = true
			p++
		case c < utf8.RuneSelf:
			return 0, false, s.fail(p, "illegal character code "+strconv.Itoa(int(c)))
		default:
			n, err := s.char(p)
			if err != nil {
				return 0, false, err
			}
			p += n
		}
	}
	return 0, false, s.eof()
}

// reference checks the entity or character reference at p ('&') and
// returns the offset after its ';'.
func (s *Scanner) reference(p int) (int, error) {
	src := s.src
	q := p + 1
	if q < len(src) && src[q] == '#' {
		r, end, ok := charRef(src, q+1)
		if !ok {
			if end >= len(src) {
				return 0, s.eof()
			}
			return 0, s.fail(p, "invalid character reference")
		}
		if !isChar(r) {
			return 0, s.fail(p, "character reference to an illegal character")
		}
		return end, nil
	}
	if _, n := predefined(src[q:]); n > 0 {
		return q + n, nil
	}
	if len(src)-q < 6 && bytes.IndexByte(src[q:], ';') < 0 {
		return 0, s.eof()
	}
	return 0, s.fail(p, "invalid character entity")
}

// charRef parses the digits of a character reference starting after "&#"
// up to and including ';'. ok is false for a malformed reference; end is
// then where parsing stopped.
func charRef(b []byte, p int) (r rune, end int, ok bool) {
	base := rune(10)
	if p < len(b) && b[p] == 'x' {
		base = 16
		p++
	}
	start := p
	var v rune
	for p < len(b) {
		c := b[p]
		var d rune
		switch {
		case '0' <= c && c <= '9':
			d = rune(c - '0')
		case base == 16 && 'a' <= c && c <= 'f':
			d = rune(c-'a') + 10
		case base == 16 && 'A' <= c && c <= 'F':
			d = rune(c-'A') + 10
		default:
			if c != ';' || p == start {
				return 0, p, false
			}
			return v, p + 1, true
		}
		if v <= unicode.MaxRune {
			v = v*base + d
		}
		p++
	}
	return 0, p, false
}

// predefined matches one of the five predefined entity references (name and
// ';') at the start of b.
func predefined(b []byte) (byte, int) {
	switch {
	case bytes.HasPrefix(b, []byte("lt;")):
		return '<', 3
	case bytes.HasPrefix(b, []byte("gt;")):
		return '>', 3
	case bytes.HasPrefix(b, []byte("amp;")):
		return '&', 4
	case bytes.HasPrefix(b, []byte("apos;")):
		return '\'', 5
	case bytes.HasPrefix(b, []byte("quot;")):
		return '"', 5
	}
	return 0, 0
}

// char checks the multi-byte UTF-8 character at p and returns its length.
func (s *Scanner) char(p int) (int, error) {
	r, n := utf8.DecodeRune(s.src[p:])
	if r == utf8.RuneError && n == 1 {
		return 0, s.fail(p, "invalid UTF-8")
	}
	if r == 0xFFFE || r == 0xFFFF {
		return 0, s.fail(p, "illegal character code "+strconv.Itoa(int(r)))
	}
	return n, nil
}

// chars checks that src[p:end] is UTF-8 made of XML Chars.
func (s *Scanner) chars(p, end int) error {
	src := s.src
	for p < end {
		c := src[p]
		if c >= 0x20 && c < utf8.RuneSelf || c == '\t' || c == '\n' || c == '\r' {
			p++
			continue
		}
		if c < utf8.RuneSelf {
			return s.fail(p, "illegal character code "+strconv.Itoa(int(c)))
		}
		n, err := s.char(p)
		if err != nil {
			return err
		}
		p += n
	}
	return nil
}

// name scans a Name at p and returns the offset after it and the union of
// its bytes' nameTab classes. Like encoding/xml, a name runs up to the
// first ASCII byte that cannot be in a name; any non-ASCII bytes are then
// checked against the name tables.
func (s *Scanner) name(p int, what string) (int, uint8, error) {
	src := s.src
	q := p
	var flags uint8
	for q < len(src) {
		t := nameTab[src[q]]
		if t&nameChar == 0 {
			break
		}
		flags |= t
		q++
	}
	if q == p {
		if q >= len(src) {
			return 0, 0, s.eof()
		}
		return 0, 0, s.fail(p, what)
	}
	if flags&nameHigh == 0 {
		if nameTab[src[p]]&nameStart == 0 {
			return 0, 0, s.fail(p, "invalid XML name")
		}
	} else if !isName(src[p:q]) {
		return 0, 0, s.fail(p, "invalid XML name")
	}
	return q, flags, nil
}

func isName(b []byte) bool {
	r, n := utf8.DecodeRune(b)
	if r == utf8.RuneError && n == 1 || !unicode.Is(first, r) {
		return false
	}
	for b = b[n:]; len(b) > 0; b = b[n:] {
		r, n = utf8.DecodeRune(b)
		if r == utf8.RuneError && n == 1 || !unicode.Is(first, r) && !unicode.Is(second, r) {
			return false
		}
	}
	return true
}

// isChar reports whether r is allowed by the XML 1.0 Char production.
func isChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(b []byte, p int) int {
	for p < len(b) && isSpace(b[p]) {
		p++
	}
	return p
}

// nameTab classes.
const (
	nameChar  = 1 << iota // may continue a name (all non-ASCII bytes too)
	nameStart             // ASCII that may start an NCName
	nameColon             // ':'
	nameHigh              // not ASCII: check against the Unicode tables
)

var (
	nameTab [256]uint8
	// attrTab marks bytes an attribute value scan must look at; textTab
	// the same for character data. Plain printable ASCII is 0.
	attrTab [256]uint8
	textTab [256]uint8
)

func init() {
	for c := 0; c < 256; c++ {
		b := byte(c)
		switch {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', b == '_':
			nameTab[c] = nameChar | nameStart
		case '0' <= b && b <= '9', b == '.', b == '-':
			nameTab[c] = nameChar
		case b >= utf8.RuneSelf:
			nameTab[c] = nameChar | nameHigh
		}
		if b < 0x20 || b >= utf8.RuneSelf {
			attrTab[c], textTab[c] = 1, 1
		}
	}
	// ':' may start a Name (encoding/xml's first table has it); splitQName
	// then refuses a name that starts with it.
	nameTab[':'] = nameChar | nameStart | nameColon
	// The quotes are not marked: attrValue looks for its own quote first.
	for _, c := range []byte{'<', '&'} {
		attrTab[c] = 1
	}
	for _, c := range []byte{'<', '&', ']'} {
		textTab[c] = 1
	}
	textTab['\t'], textTab['\n'] = 0, 0
}
