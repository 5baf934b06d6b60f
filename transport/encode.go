package transport

import (
	"encoding/xml"
	"errors"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// nsXMLURL is what encoding/xml puts in Name.Space for the xml: prefix.
const nsXMLURL = "http://www.w3.org/XML/1998/namespace"

// errTooLarge: an element was longer than the limit given to readElement.
var errTooLarge = errors.New("transport: stanza too large")

// errBadName: a name with more than one colon, which namespaces forbid and
// which could not be written back unchanged.
var errBadName = errors.New("transport: malformed element or attribute name")

// element re-serializes the tokens of one element, as read from a session,
// into a standalone document that the messages decoders read as the same
// element: every namespace the element and its descendants are in is
// declared on it (the stream header's declarations are not in scope in a
// standalone document), namespaced attributes get fresh prefixes, and text
// and attribute values are escaped so that they decode to what was read.
//
// encoding/xml has already resolved prefixes to namespace names, so the
// output uses default-namespace declarations only (and generated prefixes
// for namespaced attributes other than xml:).
type element struct {
	b     []byte
	ns    []string // default namespace in scope, per open element
	limit int
	over  bool // limit exceeded: b is incomplete
	bad   bool // a name that cannot be written back
	// Root attributes, for the callers: the element's own type, id, from.
	typ, id, from string
	// The root's first child element and its node attribute (an IQ's
	// payload).
	child     xml.Name
	childNode string
	depth     int
	// Stanza error of an <iq type='error'>: the defined condition and text.
	errType, errCond, errText string
	inError, inText           bool
}

func (e *element) reset(limit int) {
	*e = element{b: e.b[:0], ns: e.ns[:0], limit: limit}
}

// token appends one token. Comments, processing instructions and
// directives cannot occur in XMPP stanzas and are dropped.
func (e *element) token(t xml.Token) {
	switch t := t.(type) {
	case xml.StartElement:
		e.start(t)
	case xml.EndElement:
		e.end(t)
	case xml.CharData:
		if e.inText {
			e.errText += string(t)
		}
		if !e.over {
			e.b = appendEscaped(e.b, string(t), false)
		}
	}
	if e.limit > 0 && len(e.b) > e.limit {
		e.over = true
		e.b = e.b[:0]
	}
}

func (e *element) start(t xml.StartElement) {
	parent := ""
	if n := len(e.ns); n > 0 {
		parent = e.ns[n-1]
	}
	e.ns = append(e.ns, t.Name.Space)
	e.depth++
	e.watchStart(t)
	if strings.Contains(t.Name.Local, ":") {
		e.bad = true
	}
	if e.over {
		return
	}
	e.b = append(e.b, '<')
	e.b = append(e.b, t.Name.Local...)
	if t.Name.Space != parent || len(e.ns) == 1 {
		e.b = appendAttr(e.b, "xmlns", t.Name.Space)
	}
	prefixes := 0
	for _, a := range t.Attr {
		if strings.Contains(a.Name.Local, ":") {
			e.bad = true
		}
		switch {
		case a.Name.Space == "xmlns", a.Name.Space == "" && a.Name.Local == "xmlns":
			// Declarations: re-made above, from the resolved names.
		case a.Name.Space == "":
			e.b = appendAttr(e.b, a.Name.Local, a.Value)
		case a.Name.Space == nsXMLURL || a.Name.Space == "xml":
			e.b = appendAttr(e.b, "xml:"+a.Name.Local, a.Value)
		default:
			prefixes++
			p := "a" + strconv.Itoa(prefixes)
			e.b = appendAttr(e.b, "xmlns:"+p, a.Name.Space)
			e.b = appendAttr(e.b, p+":"+a.Name.Local, a.Value)
		}
	}
	e.b = append(e.b, '>')
}

func (e *element) end(t xml.EndElement) {
	if n := len(e.ns); n > 0 {
		e.ns = e.ns[:n-1]
	}
	e.watchEnd()
	e.depth--
	if e.over {
		return
	}
	e.b = append(e.b, "</"...)
	e.b = append(e.b, t.Name.Local...)
	e.b = append(e.b, '>')
}

const nsStanzas = "urn:ietf:params:xml:ns:xmpp-stanzas"

// watchStart notes what the callers need without a second parse: the root's
// attributes and, in an error stanza, the error's type and condition.
func (e *element) watchStart(t xml.StartElement) {
	switch e.depth {
	case 1:
		for _, a := range t.Attr {
			if a.Name.Space != "" {
				continue
			}
			switch a.Name.Local {
			case "type":
				e.typ = a.Value
			case "id":
				e.id = a.Value
			case "from":
				e.from = a.Value
			}
		}
	case 2:
		if e.child.Local == "" {
			e.child = t.Name
			for _, a := range t.Attr {
				if a.Name.Space == "" && a.Name.Local == "node" {
					e.childNode = a.Value
				}
			}
		}
		if t.Name.Local == "error" && e.typ == "error" {
			e.inError = true
			for _, a := range t.Attr {
				if a.Name.Space == "" && a.Name.Local == "type" {
					e.errType = a.Value
				}
			}
		}
	case 3:
		if e.inError && t.Name.Space == nsStanzas {
			if t.Name.Local == "text" {
				e.inText = true
			} else if e.errCond == "" {
				e.errCond = t.Name.Local
			}
		}
	}
}

func (e *element) watchEnd() {
	switch e.depth {
	case 2:
		e.inError = false
	case 3:
		e.inText = false
	}
}

// readElement reads the rest of an element whose start was already read
// (r returns its children and its end element, then io.EOF) into e.
func (e *element) readElement(start xml.StartElement, r xml.TokenReader, limit int) error {
	e.reset(limit)
	e.token(start)
	return e.readRest(r)
}

// readAll reads one whole element, start to end, from r into e.
func (e *element) readAll(r xml.TokenReader, limit int) error {
	e.reset(limit)
	for {
		t, err := r.Token()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		if _, ok := t.(xml.StartElement); ok {
			e.token(t)
			return e.readRest(r)
		}
	}
}

func (e *element) readRest(r xml.TokenReader) error {
	for {
		t, err := r.Token()
		if t != nil {
			e.token(t)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if e.depth == 0 {
			break
		}
	}
	if e.over {
		return errTooLarge
	}
	if e.bad {
		return errBadName
	}
	return nil
}

// appendAttr appends ` name='value'`.
func appendAttr(b []byte, name, value string) []byte {
	b = append(b, ' ')
	b = append(b, name...)
	b = append(b, '=', '\'')
	b = appendEscaped(b, value, true)
	return append(b, '\'')
}

// appendEscaped escapes s as XML text (attr false) or as a single-quoted
// attribute value (attr true). Characters that are kept literally but
// would change on the way back (CR in text; tab, LF and CR in attributes)
// become character references; anything XML cannot carry becomes U+FFFD.
func appendEscaped(b []byte, s string, attr bool) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			i++
			switch {
			case c == '&':
				b = append(b, "&amp;"...)
			case c == '<':
				b = append(b, "&lt;"...)
			case c == '>':
				b = append(b, "&gt;"...)
			case c == '\'' && attr:
				b = append(b, "&apos;"...)
			case c == '"' && attr:
				b = append(b, "&quot;"...)
			case c == '\r':
				b = append(b, "&#xD;"...)
			case c == '\n' && attr:
				b = append(b, "&#xA;"...)
			case c == '\t' && attr:
				b = append(b, "&#x9;"...)
			case c < 0x20 && c != '\n' && c != '\t':
				b = append(b, "\uFFFD"...)
			default:
				b = append(b, c)
			}
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 || r == 0xFFFE || r == 0xFFFF {
			b = append(b, "\uFFFD"...)
		} else {
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return b
}
