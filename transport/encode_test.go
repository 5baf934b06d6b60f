package transport

import (
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/capsengine/capsengine/messages"
)

// firstElement decodes doc with encoding/xml, as mellium does, and
// re-serializes its root element.
func firstElement(t testing.TB, doc string, limit int) (*element, error) {
	d := xml.NewDecoder(strings.NewReader(doc))
	var el element
	err := el.readAll(d, limit)
	return &el, err
}

func TestElementStandalone(t *testing.T) {
	// A stanza as it arrives on a stream: the stream header declared the
	// default namespace and a prefix; Prosody stamped xml:lang.
	stream := "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' xmlns:c='http://jabber.org/protocol/caps'>" +
		"<presence from='juliet@capulet.lit/balcony' xml:lang='en'>" +
		"<c:c hash='sha-1' node='http://psi-im.org' ver='q07IKJEyjvHSyhy//CH0CxmKi8w='/>" +
		"<status>a &amp; b &lt;c&gt;&#xD;</status><x xmlns='urn:x' xmlns:y='urn:y' y:attr='v&apos;&quot;'/></presence>"
	d := xml.NewDecoder(strings.NewReader(stream))
	if _, err := d.Token(); err != nil { // the stream header
		t.Fatal(err)
	}
	var el element
	if err := el.readAll(d, 1<<20); err != nil {
		t.Fatal(err)
	}
	p, err := messages.ParsePresence(el.b)
	if err != nil {
		t.Fatalf("%v\n%s", err, el.b)
	}
	if p.From != "juliet@capulet.lit/balcony" || p.Caps == nil || p.Caps.Ver != "q07IKJEyjvHSyhy//CH0CxmKi8w=" {
		t.Errorf("got %+v from %s", p, el.b)
	}
	if el.from != "juliet@capulet.lit/balcony" || el.depth != 0 {
		t.Errorf("watched: from %q depth %d", el.from, el.depth)
	}
	// Round trip: the same tokens again.
	want, _ := tokensErr(stream) // the stream is not closed
	want = strings.TrimPrefix(want, "<{http://etherx.jabber.org/streams}stream>")
	if got := tokens(t, string(el.b)); !strings.HasPrefix(want, got) || !strings.Contains(got, "\r") {
		t.Errorf("tokens differ:\n got %s\nwant %s", got, want)
	}
}

// tokens renders the resolved token stream of doc from its first element
// on, for comparison.
func tokens(t testing.TB, doc string) string {
	t.Helper()
	s, err := tokensErr(doc)
	if err != nil {
		t.Fatalf("%v in %s", err, doc)
	}
	return s
}

// tokensErr is tokens up to the first error.
func tokensErr(doc string) (string, error) {
	d := xml.NewDecoder(strings.NewReader(doc))
	var b strings.Builder
	started := false
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return b.String(), nil
		}
		if err != nil {
			return b.String(), err
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			started = true
			b.WriteString("<{" + tok.Name.Space + "}" + tok.Name.Local)
			for _, a := range tok.Attr {
				if a.Name.Space == "xmlns" || a.Name.Local == "xmlns" && a.Name.Space == "" {
					continue
				}
				b.WriteString(" {" + a.Name.Space + "}" + a.Name.Local + "=" + a.Value)
			}
			b.WriteString(">")
		case xml.EndElement:
			b.WriteString("</>")
		case xml.CharData:
			if started {
				b.WriteString(string(tok))
			}
		}
	}
}

func TestElementErrorAndLimit(t *testing.T) {
	el, err := firstElement(t, "<iq xmlns='jabber:client' type='error' id='1' from='a@b/c'><query xmlns='http://jabber.org/protocol/disco#info'/>"+
		"<error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>gone</text></error></iq>", 0)
	if err != nil {
		t.Fatal(err)
	}
	if el.typ != "error" || el.id != "1" || el.errType != "cancel" || el.errCond != "item-not-found" || el.errText != "gone" {
		t.Errorf("got %+v", el)
	}
	if el.child != (xml.Name{Space: messages.NSDiscoInfo, Local: "query"}) {
		t.Errorf("child %v", el.child)
	}
	if _, err := firstElement(t, "<presence xmlns='jabber:client'><status>"+strings.Repeat("x", 100)+"</status></presence>", 64); !errors.Is(err, errTooLarge) {
		t.Errorf("got %v, want errTooLarge", err)
	}
}

// FuzzElement: whatever encoding/xml reads, the re-serialized element is
// well-formed on its own and reads back as the same tokens.
func FuzzElement(f *testing.F) {
	for _, s := range []string{
		"<presence xmlns='jabber:client' from='a@b/c'><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='n' ver='v'/></presence>",
		"<a xmlns:p='urn:p' p:x='1' xml:lang='de'><p:b>t&#xD;\t</p:b><c xmlns=''/></a>",
		"<iq type='result'><query xmlns='http://jabber.org/protocol/disco#info'><identity category='c' type='t' xml:lang='en' name='&amp;&lt;'/></query></iq>",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		d := xml.NewDecoder(strings.NewReader(doc))
		var el element
		if err := el.readAll(d, 1<<20); err != nil {
			return
		}
		// Only the first element of doc is compared.
		want, _ := tokensErr(doc)
		got := tokens(t, string(el.b))
		if !strings.HasPrefix(want, got) {
			t.Errorf("tokens differ:\n got %s\nwant %s\nfrom %q", got, want, el.b)
		}
	})
}
