package xmlscan

import (
	"strings"
	"testing"
)

var testLimits = Limits{MaxDepth: 8, MaxAttrs: 8, MaxNamespaces: 4}

// dump renders the token stream of doc, or the error that stopped it.
func dump(doc string) string {
	var s Scanner
	s.Reset([]byte(doc), testLimits)
	var out []string
	for {
		k, err := s.Next()
		if err != nil {
			return strings.Join(append(out, "error: "+err.Error()), " ")
		}
		switch k {
		case EOF:
			return strings.Join(out, " ")
		case StartElement:
			t := "<{" + string(s.Space()) + "}" + string(s.Local())
			for i := range s.NumAttrs() {
				space, local := s.AttrName(i)
				t += " {" + string(space) + "}" + string(local) + "=" + string(s.AttrValue(i))
			}
			out = append(out, t+">")
		case EndElement:
			out = append(out, "</{"+string(s.Space())+"}"+string(s.Local())+">")
		case CharData:
			out = append(out, "'"+string(s.Text())+"'")
		}
	}
}

func TestTokens(t *testing.T) {
	tests := []struct{ in, want string }{
		{`<a/>`, `<{}a> </{}a>`},
		{`<a xmlns='u' b='1'><c/>t</a>`, `<{u}a {}xmlns=u {}b=1> <{u}c> </{u}c> 't' </{u}a>`},
		{`<p:a xmlns:p='u' p:b='1' xml:lang='en'/>`, `<{u}a {http://www.w3.org/2000/xmlns/}p=u {u}b=1 {http://www.w3.org/XML/1998/namespace}lang=en> </{u}a>`},
		{`<a xmlns='u'><b xmlns=''/></a>`, `<{u}a {}xmlns=u> <{}b {}xmlns=> </{}b> </{u}a>`},
		{"<a b='x&amp;\ty&#9;'>&lt;\r\n<![CDATA[&amp;\r]]><!--c--><?p?>z</a>", "<{}a {}b=x& y\t> '<\n' '&amp;\n' 'z' </{}a>"},
		{`<a><b>`, `<{}a> <{}b> error: xmlscan: unexpected EOF at offset 6`},
		{`<a></b>`, `<{}a> error: xmlscan: element <a> closed by </b> at offset 5`},
		{`<a/><b/>`, `<{}a> </{}a> error: xmlscan: a second root element at offset 4`},
		{strings.Repeat("<a>", 9), strings.TrimSpace(strings.Repeat("<{}a> ", 8)) + " error: xmlscan: elements nested too deeply at offset 24"},
		{`<a xmlns:a='u' xmlns:b='u' xmlns:c='u' xmlns:d='u' xmlns:e='u'/>`, `error: xmlscan: too many namespace declarations in scope at offset 0`},
	}
	for _, tc := range tests {
		if got := dump(tc.in); got != tc.want {
			t.Errorf("%q:\ngot  %s\nwant %s", tc.in, got, tc.want)
		}
	}
}

func TestSkipAndElementText(t *testing.T) {
	var s Scanner
	s.Reset([]byte(`<r><skip a='1'><x>deep</x></skip><v>a<i>no</i>b&amp;<![CDATA[c]]></v><e/></r>`), testLimits)
	mustNext := func(want Kind) {
		t.Helper()
		if k, err := s.Next(); k != want || err != nil {
			t.Fatalf("got %v, %v; want %v", k, err, want)
		}
	}
	mustNext(StartElement) // r
	mustNext(StartElement) // skip
	if err := s.Skip(); err != nil {
		t.Fatal(err)
	}
	mustNext(StartElement) // v
	text, err := s.ElementText()
	if err != nil || string(text) != "ab&c" {
		t.Fatalf("got %q, %v", text, err)
	}
	mustNext(StartElement) // e
	if text, err := s.ElementText(); err != nil || text != nil {
		t.Fatalf("self-closing: got %q, %v", text, err)
	}
	mustNext(EndElement) // r
	mustNext(EOF)
	mustNext(EOF)
}

func TestErrorKinds(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want ErrorKind
	}{
		{`<a b='1' c='2' d='3' e='4' f='5' g='6' h='7' i='8' j='9'/>`, TooManyAttrs},
		{strings.Repeat("<a>", 9), TooDeep},
		{`<a xmlns:a='u' xmlns:b='u' xmlns:c='u' xmlns:d='u' xmlns:e='u'/>`, TooManyNamespaces},
		{`<a>&foo;</a>`, Syntax},
	} {
		var s Scanner
		s.Reset([]byte(tc.in), testLimits)
		var err error
		for err == nil {
			var k Kind
			if k, err = s.Next(); k == EOF && err == nil {
				break
			}
		}
		if e, ok := err.(*Error); !ok || e.Kind != tc.want {
			t.Errorf("%q: got %v, want kind %d", tc.in, err, tc.want)
		}
	}
}
