package messages_test

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/capsengine/capsengine/messages"
)

// BenchmarkDecodePresence compares the fast decoder with encoding/xml on the
// same stanzas. encoding-xml is the fastest correct use of encoding/xml: a
// namespace-aware Token loop that extracts the same fields (without the
// extra XML rules the reference decoder adds); encoding-xml-unmarshal is
// xml.Unmarshal into tagged structs.
//
//	go test -run=^$ -bench=DecodePresence -benchmem ./messages/
func BenchmarkDecodePresence(b *testing.B) {
	b.Run("fast", func(b *testing.B) {
		for _, tc := range benchPresences {
			b.Run(tc.name, func(b *testing.B) {
				stanza := []byte(tc.xml)
				var d messages.Decoder
				var v messages.PresenceView
				b.SetBytes(int64(len(stanza)))
				b.ReportAllocs()
				for b.Loop() {
					if err := d.DecodePresence(stanza, &v); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	})
	b.Run("encoding-xml", func(b *testing.B) {
		for _, tc := range benchPresences {
			b.Run(tc.name, func(b *testing.B) {
				stanza := []byte(tc.xml)
				b.SetBytes(int64(len(stanza)))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := tokenLoopPresence(stanza); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	})
	b.Run("encoding-xml-unmarshal", func(b *testing.B) {
		for _, tc := range benchPresences {
			b.Run(tc.name, func(b *testing.B) {
				stanza := []byte(tc.xml)
				b.SetBytes(int64(len(stanza)))
				b.ReportAllocs()
				for b.Loop() {
					var p xmlPresence
					if err := xml.Unmarshal(stanza, &p); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	})
}

func TestBenchBaselines(t *testing.T) {
	for _, tc := range benchPresences {
		want, err := messages.ParsePresence([]byte(tc.xml))
		if err != nil {
			t.Fatal(err)
		}
		got, err := tokenLoopPresence([]byte(tc.xml))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: token loop got %+v, want %+v", tc.name, show(got), show(want))
		}
	}
}

// tokenLoopPresence decodes a presence with encoding/xml's namespace-aware
// Token, the way a straightforward Go server would.
func tokenLoopPresence(b []byte) (*messages.Presence, error) {
	d := xml.NewDecoder(bytes.NewReader(b))
	p := &messages.Presence{}
	depth := 0
	inCaps2, inHash, seenCaps2 := false, false, false
	var text []byte
	var algo string
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return p, nil
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			switch depth {
			case 1:
				if t.Name.Local != "presence" {
					return nil, messages.ErrNotPresence
				}
				for _, a := range t.Attr {
					if a.Name.Space != "" {
						continue
					}
					switch a.Name.Local {
					case "from":
						p.From = a.Value
					case "to":
						p.To = a.Value
					case "id":
						p.ID = a.Value
					case "type":
						p.Type = a.Value
					}
				}
			case 2:
				switch {
				case t.Name.Space == messages.NSCaps && t.Name.Local == "c" && p.Caps == nil:
					p.Caps = &messages.Caps{}
					for _, a := range t.Attr {
						switch a.Name.Local {
						case "hash":
							p.Caps.Hash = a.Value
						case "node":
							p.Caps.Node = a.Value
						case "ver":
							p.Caps.Ver = a.Value
						case "ext":
							p.Caps.Ext = a.Value
						}
					}
				case t.Name.Space == messages.NSCaps2 && t.Name.Local == "c" && !seenCaps2:
					inCaps2, seenCaps2 = true, true
				case t.Name.Space == messages.NSMUCUser && t.Name.Local == "x":
					p.MUC = true
				}
			case 3:
				if inCaps2 && t.Name.Space == messages.NSHashes2 && t.Name.Local == "hash" {
					inHash, text, algo = true, text[:0], ""
					for _, a := range t.Attr {
						if a.Name.Local == "algo" {
							algo = a.Value
						}
					}
				}
			}
		case xml.CharData:
			if inHash && depth == 3 {
				text = append(text, t...)
			}
		case xml.EndElement:
			if depth == 3 && inHash {
				p.Caps2 = append(p.Caps2, messages.Hash{Algo: algo, Value: string(text)})
				inHash = false
			}
			if depth == 2 {
				inCaps2 = false
			}
			depth--
		}
	}
}

type xmlPresence struct {
	XMLName xml.Name `xml:"presence"`
	From    string   `xml:"from,attr"`
	To      string   `xml:"to,attr"`
	ID      string   `xml:"id,attr"`
	Type    string   `xml:"type,attr"`
	Caps    *struct {
		Hash string `xml:"hash,attr"`
		Node string `xml:"node,attr"`
		Ver  string `xml:"ver,attr"`
		Ext  string `xml:"ext,attr"`
	} `xml:"http://jabber.org/protocol/caps c"`
	Caps2 *struct {
		Hashes []struct {
			Algo  string `xml:"algo,attr"`
			Value string `xml:",chardata"`
		} `xml:"urn:xmpp:hashes:2 hash"`
	} `xml:"urn:xmpp:caps c"`
	MUC *struct{} `xml:"http://jabber.org/protocol/muc#user x"`
}

func BenchmarkParseDiscoInfo(b *testing.B) {
	for _, name := range []string{"xep0115-complex", "xep0390-complex"} {
		answer := readFile(b, filepath.Join(vectorDir, name+".xml"))
		b.Run(name, func(b *testing.B) {
			var d messages.Decoder
			b.SetBytes(int64(len(answer)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := d.DecodeDiscoInfo(answer); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkAppendPresence(b *testing.B) {
	p, err := messages.ParsePresence([]byte(benchPresences[1].xml))
	if err != nil {
		b.Fatal(errors.New("bad stanza"))
	}
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = messages.AppendPresence(buf[:0], p)
	}
}
