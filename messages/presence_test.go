package messages_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/messages"
)

const (
	capsNS  = `xmlns='http://jabber.org/protocol/caps'`
	caps2NS = `xmlns='urn:xmpp:caps'`
	h2NS    = `xmlns='urn:xmpp:hashes:2'`
	ver1    = "QgayPKawpkPSDYmwT/WM94uAlu0="
	ver2    = "q07IKJEyjvHSyhy//CH0CxmKi8w="
	sum256  = "kzBZbkqJ3ADrj7v08reD1qcWUwNGHaidNUgD7nHpiw8="
	sum3    = "79mdYAfU9rEdTOcWDO7UEAt6E56SUzk/g6TnqUeuD9Q="
)

func caps115(node, ver string) *messages.Caps {
	return &messages.Caps{Hash: "sha-1", Node: node, Ver: ver}
}

func TestDecodePresence(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want *messages.Presence
	}{
		{"xep0115 example",
			`<presence from='romeo@montague.lit/orchard'><c ` + capsNS + ` hash='sha-1' node='http://code.google.com/p/exodus' ver='` + ver1 + `'/></presence>`,
			&messages.Presence{From: "romeo@montague.lit/orchard", Caps: caps115("http://code.google.com/p/exodus", ver1)}},
		{"all attributes, double quotes",
			`<presence xmlns="jabber:client" from="a@b/c" to="d@e" id="x1" type="unavailable"/>`,
			&messages.Presence{From: "a@b/c", To: "d@e", ID: "x1", Type: "unavailable"}},
		{"empty", `<presence/>`, &messages.Presence{}},
		{"jabber:server", `<presence xmlns='jabber:server' from='a'/>`, &messages.Presence{From: "a"}},
		{"component", `<presence xmlns='jabber:component:accept' from='a'/>`, &messages.Presence{From: "a"}},
		{"prefixed presence",
			`<cl:presence xmlns:cl='jabber:client' from='a'><c ` + capsNS + ` hash='sha-1' node='n' ver='` + ver1 + `'/></cl:presence>`,
			&messages.Presence{From: "a", Caps: caps115("n", ver1)}},
		{"prefixed caps",
			`<presence><x:c xmlns:x='http://jabber.org/protocol/caps' hash='sha-1' node='n' ver='` + ver1 + `'/></presence>`,
			&messages.Presence{Caps: caps115("n", ver1)}},
		{"prefix declared on presence",
			`<presence xmlns:x='http://jabber.org/protocol/caps'><x:c hash='sha-1' node='n' ver='` + ver1 + `'/></presence>`,
			&messages.Presence{Caps: caps115("n", ver1)}},
		{"default namespace inherited",
			`<presence xmlns='http://jabber.org/protocol/caps'/>`, nil},
		{"caps namespace through a default redeclared on a wrapper is not a direct child",
			`<presence><w xmlns='http://jabber.org/protocol/caps'><c hash='sha-1' node='n' ver='v'/></w></presence>`,
			&messages.Presence{}},
		{"default undeclared",
			`<presence xmlns='jabber:client'><c ` + capsNS + `><c xmlns=''/></c></presence>`,
			&messages.Presence{Caps: &messages.Caps{}}},
		{"caps in another namespace ignored",
			`<presence><c xmlns='urn:other' hash='sha-1' node='n' ver='v'/></presence>`,
			&messages.Presence{}},
		{"prefixed attributes are not the caps attributes",
			`<presence><c ` + capsNS + ` xmlns:p='urn:p' p:ver='no' ver='yes' p:hash='x'/></presence>`,
			&messages.Presence{Caps: &messages.Caps{Ver: "yes"}}},
		{"first caps wins",
			`<presence><c ` + capsNS + ` hash='sha-1' node='one' ver='` + ver1 + `'/><c ` + capsNS + ` hash='sha-1' node='two' ver='` + ver2 + `'/></presence>`,
			&messages.Presence{Caps: caps115("one", ver1)}},
		{"legacy caps with ext and no hash",
			`<presence><c ` + capsNS + ` node='http://code.google.com/p/exodus' ver='0.9.1' ext='avatar pmuc-v1'/></presence>`,
			&messages.Presence{Caps: &messages.Caps{Node: "http://code.google.com/p/exodus", Ver: "0.9.1", Ext: "avatar pmuc-v1"}}},
		{"xep0390 with several hashes",
			`<presence><c ` + caps2NS + `><hash ` + h2NS + ` algo='sha-256'>` + sum256 + `</hash><hash ` + h2NS + ` algo='sha3-256'>` + sum3 + `</hash></c></presence>`,
			&messages.Presence{Caps2: []messages.Hash{{"sha-256", sum256}, {"sha3-256", sum3}}}},
		{"xep0390 pretty-printed, unknown children, wrong-namespace hash",
			"<presence>\n <c " + caps2NS + ">\n  <foo/>\n  <hash algo='md5'>x</hash>\n  <hash " + h2NS + " algo='sha-256'>" + sum256 + "</hash>\n </c>\n</presence>",
			&messages.Presence{Caps2: []messages.Hash{{"sha-256", sum256}}}},
		{"only the first xep0390 element",
			`<presence><c ` + caps2NS + `><hash ` + h2NS + ` algo='sha-256'>a</hash></c><c ` + caps2NS + `><hash ` + h2NS + ` algo='sha-256'>b</hash></c></presence>`,
			&messages.Presence{Caps2: []messages.Hash{{"sha-256", "a"}}}},
		{"empty xep0390 element", `<presence><c ` + caps2NS + `/></presence>`, &messages.Presence{}},
		{"hash text: CDATA, comment, PI, references, child element",
			`<presence><c ` + caps2NS + `><hash ` + h2NS + ` algo='sha-256'>a<!-- c --><![CDATA[b<&]]><?pi x?>&#x41;&#66;&amp;<skip>no</skip>z</hash></c></presence>`,
			&messages.Presence{Caps2: []messages.Hash{{"sha-256", "ab<&AB&z"}}}},
		{"hash text keeps whitespace",
			"<presence><c " + caps2NS + "><hash " + h2NS + " algo='sha-256'> a\r\nb </hash></c></presence>",
			&messages.Presence{Caps2: []messages.Hash{{"sha-256", " a\nb "}}}},
		{"muc occupant",
			`<presence><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='member' role='participant'/></x></presence>`,
			&messages.Presence{MUC: true}},
		{"muc join is not an occupant",
			`<presence><x xmlns='http://jabber.org/protocol/muc'/></presence>`, &messages.Presence{}},
		{"nested muc#user is not direct",
			`<presence><y><x xmlns='http://jabber.org/protocol/muc#user'/></y></presence>`, &messages.Presence{}},
		{"entities and character references in attributes",
			`<presence from='a&amp;b&lt;c&gt;d&quot;e&apos;f&#x263A;&#9786;'/>`,
			&messages.Presence{From: "a&b<c>d\"e'f☺☺"}},
		{"quotes inside the other quoting",
			`<presence from="it's" to='say "hi"'/>`, &messages.Presence{From: "it's", To: `say "hi"`}},
		{"attribute normalization",
			"<presence from='a\tb\nc\r\nd\re&#9;f&#10;g&#13;h' to = \"x\"/>",
			&messages.Presence{From: "a b c d e\tf\ng\rh", To: "x"}},
		{"greater-than and ]]> are fine in attributes", `<presence from='a>b]]>'/>`, &messages.Presence{From: "a>b]]>"}},
		{"xml declaration, comments and PIs around",
			"<?xml version='1.0' encoding='utf-8' standalone='yes'?>\n<!-- before --><?app data?>\n<presence from='a'/>\n<!-- after --><?app?>\n",
			&messages.Presence{From: "a"}},
		{"byte order mark", "\xEF\xBB\xBF<presence from='a'/>", &messages.Presence{From: "a"}},
		{"whitespace in tags", "<presence\n\tfrom = 'a'\r\n></presence\n>", &messages.Presence{From: "a"}},
		{"skipped children, well-formed",
			benchPresences[3].xml,
			&messages.Presence{From: "juliet@capulet.lit/balcony", To: "romeo@montague.lit/orchard", ID: "psi-42", Caps: caps115("https://psi-im.org", ver2)}},
		{"xml:lang on presence is no concern", `<presence xml:lang='en' from='a'/>`, &messages.Presence{From: "a"}},
		{"non-ASCII names", `<presence><café xmlns='urn:x' é='1'>ü</café></presence>`, &messages.Presence{}},
		{"colon-free name chars", `<presence><a.b-c_d1 x.y='1'/></presence>`, &messages.Presence{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := []byte(tc.in)
			got, err := messages.ParsePresence(b)
			ref, refErr := refPresence(b)
			if tc.want == nil {
				if !errors.Is(err, messages.ErrNotPresence) || !errors.Is(refErr, messages.ErrNotPresence) {
					t.Fatalf("got %v (reference %v), want ErrNotPresence", err, refErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", show(got), show(tc.want))
			}
			if refErr != nil || !reflect.DeepEqual(ref, tc.want) {
				t.Errorf("reference got %+v, %v", show(ref), refErr)
			}
		})
	}
}

func TestDecodePresenceNotPresence(t *testing.T) {
	for _, in := range []string{
		`<message xmlns='jabber:client'><body>hi</body></message>`,
		`<iq/>`,
		`<presence xmlns='urn:other'/>`,
		`<p:presence xmlns:p='urn:other'/>`,
		`<Presence/>`,
	} {
		_, err := messages.ParsePresence([]byte(in))
		if !errors.Is(err, messages.ErrNotPresence) {
			t.Errorf("%s: got %v, want ErrNotPresence", in, err)
		}
	}
	// A malformed document is a syntax error whatever its root.
	_, err := messages.ParsePresence([]byte(`<message><a></message>`))
	var se *messages.SyntaxError
	if !errors.As(err, &se) {
		t.Errorf("got %v, want *SyntaxError", err)
	}
}

// malformed lists documents XML 1.0 with namespaces rejects, each with the
// rule it breaks. Both the fast decoder and the reference must refuse them.
var malformed = []struct{ name, in string }{
	{"empty", ``},
	{"only whitespace", " \n"},
	{"only a comment", `<!-- x -->`},
	{"undefined entity", `<presence>&nbsp;</presence>`},
	{"undefined entity in attribute", `<presence from='&nbsp;'/>`},
	{"entity without semicolon", `<presence from='&amp'/>`},
	{"bare ampersand", `<presence>a & b</presence>`},
	{"char ref to NUL", `<presence>&#0;</presence>`},
	{"char ref to a control", `<presence from='&#x1;'/>`},
	{"char ref to a surrogate", `<presence>&#xD800;</presence>`},
	{"char ref to a surrogate in attribute", `<presence from='&#56320;'/>`},
	{"char ref to U+FFFE", `<presence>&#xFFFE;</presence>`},
	{"char ref beyond Unicode", `<presence>&#x110000;</presence>`},
	{"char ref huge", `<presence>&#99999999999999999999;</presence>`},
	{"char ref uppercase X", `<presence>&#X41;</presence>`},
	{"char ref empty", `<presence>&#;</presence>`},
	{"char ref empty hex", `<presence>&#x;</presence>`},
	{"char ref bad digit", `<presence>&#12a;</presence>`},
	{"less-than in attribute", `<presence from='a<b'/>`},
	{"duplicate attribute", `<presence from='a' from='b'/>`},
	{"duplicate namespace declaration", `<presence xmlns:a='u' xmlns:a='u'/>`},
	{"duplicate default declaration", `<presence xmlns='jabber:client' xmlns='jabber:client'/>`},
	{"duplicate expanded attribute", `<presence xmlns:a='u' xmlns:b='u' a:x='1' b:x='2'/>`},
	{"mismatched end tag", `<presence></presenc>`},
	{"end tag with other prefix", `<a:presence xmlns:a='jabber:client' xmlns:b='jabber:client'></b:presence>`},
	{"unclosed", `<presence>`},
	{"unclosed child", `<presence><c></presence>`},
	{"EOF in tag", `<presence from='a'`},
	{"EOF in attribute", `<presence from='a`},
	{"EOF in comment", `<presence><!-- x`},
	{"EOF in CDATA", `<presence><![CDATA[x`},
	{"EOF in PI", `<presence><?pi x`},
	{"EOF after <", `<presence><`},
	{"stray end tag", `</presence>`},
	{"invalid UTF-8 in text", "<presence>\xff</presence>"},
	{"invalid UTF-8 in attribute", "<presence from='\xc3'/>"},
	{"invalid UTF-8 in comment", "<presence><!--\xff--></presence>"},
	{"invalid UTF-8 in CDATA", "<presence><![CDATA[\xed\xa0\x80]]></presence>"},
	{"invalid UTF-8 in PI", "<presence><?pi \xff?></presence>"},
	{"encoded surrogate", "<presence>\xed\xa0\x80</presence>"},
	{"control character in text", "<presence>\x01</presence>"},
	{"control character in attribute", "<presence from='\x1b'/>"},
	{"control character in comment", "<presence><!--\x00--></presence>"},
	{"U+FFFE in text", "<presence>\uFFFE</presence>"},
	{"U+FFFF in attribute", "<presence from='\uFFFF'/>"},
	{"text after root", `<presence/>x`},
	{"reference after root", `<presence/>&#32;`},
	{"text before root", `x<presence/>`},
	{"second root", `<presence/><presence/>`},
	{"CDATA outside root", `<![CDATA[ ]]><presence/>`},
	{"DOCTYPE", `<!DOCTYPE presence><presence/>`},
	{"DOCTYPE with entity", `<!DOCTYPE p [<!ENTITY x "y">]><presence>&x;</presence>`},
	{"directive inside", `<presence><!ELEMENT x ANY></presence>`},
	{"bad comment start", `<presence><!- x --></presence>`},
	{"bad CDATA start", `<presence><![CDAT[x]]></presence>`},
	{"]]> in text", `<presence>a]]>b</presence>`},
	{"-- in comment", `<presence><!-- a -- b --></presence>`},
	{"comment ending in --->", `<presence><!-- a ---></presence>`},
	{"undeclared element prefix", `<presence><p:c/></presence>`},
	{"undeclared attribute prefix", `<presence p:from='a'/>`},
	{"prefix out of scope", `<presence><a xmlns:p='u'/><p:b/></presence>`},
	{"prefix bound to empty", `<presence xmlns:p=''/>`},
	{"xmlns prefix declared", `<presence xmlns:xmlns='urn:x'/>`},
	{"xmlns element prefix", `<xmlns:presence/>`},
	{"xml prefix rebound", `<presence xmlns:xml='urn:x'/>`},
	{"XML namespace bound elsewhere", `<presence xmlns:x='http://www.w3.org/XML/1998/namespace'/>`},
	{"XML namespace as default", `<presence xmlns='http://www.w3.org/XML/1998/namespace'/>`},
	{"xmlns namespace bound", `<presence xmlns:x='http://www.w3.org/2000/xmlns/'/>`},
	{"xmlns namespace as default", `<presence xmlns='http://www.w3.org/2000/xmlns/'/>`},
	{"two colons", `<a:b:c xmlns:a='u'/>`},
	{"leading colon", `<:presence/>`},
	{"trailing colon", `<presence:/>`},
	{"local part starts with digit", `<a:1 xmlns:a='u'/>`},
	{"attribute QName", `<presence a:='1'/>`},
	{"name starts with digit", `<1presence/>`},
	{"name starts with hyphen", `<presence><-a/></presence>`},
	{"invalid non-ASCII name", "<presence><a\u00d7b/></presence>"},
	{"no whitespace between attributes", `<presence from='a'to='b'/>`},
	{"unquoted attribute", `<presence from=a/>`},
	{"attribute without value", `<presence from/>`},
	{"attribute without =", `<presence from 'a'/>`},
	{"space after <", `< presence/>`},
	{"space after </", `<presence></ presence>`},
	{"junk in end tag", `<presence></presence x>`},
	{"slash then space", `<presence/ >`},
	{"XML declaration not first", ` <?xml version='1.0'?><presence/>`},
	{"XML declaration inside", `<presence><?xml version='1.0'?></presence>`},
	{"XML declaration uppercase", `<?XML version='1.0'?><presence/>`},
	{"PI target xMl", `<presence><?xMl x?></presence>`},
	{"XML declaration without version", `<?xml encoding='utf-8'?><presence/>`},
	{"XML version 1.1", `<?xml version='1.1'?><presence/>`},
	{"XML declaration encoding latin1", `<?xml version='1.0' encoding='ISO-8859-1'?><presence/>`},
	{"XML declaration out of order", `<?xml encoding='utf-8' version='1.0'?><presence/>`},
	{"XML declaration bad standalone", `<?xml version='1.0' standalone='maybe'?><presence/>`},
	{"XML declaration junk", `<?xml version='1.0' foo='bar'?><presence/>`},
	{"XML declaration no space", `<?xml version='1.0'encoding='utf-8'?><presence/>`},
	{"XML declaration mismatched quotes", `<?xml version='1.0"?><presence/>`},
	{"PI target with colon", `<presence><?a:b x?></presence>`},
	{"PI without space", `<presence><?a#b?></presence>`},
	{"PI without target", `<presence><? x?></presence>`},
	{"BOM twice", "\xEF\xBB\xBF\xEF\xBB\xBF<presence/>"},
	{"lone CR in tag is fine but NUL is not", "<presence\x00/>"},
}

func TestDecodePresenceMalformed(t *testing.T) {
	var d messages.Decoder
	var v messages.PresenceView
	for _, tc := range malformed {
		t.Run(tc.name, func(t *testing.T) {
			b := []byte(tc.in)
			err := d.DecodePresence(b, &v)
			var se *messages.SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("got %v, want *SyntaxError", err)
			}
			if se.Offset < 0 || se.Offset > int64(len(b)) {
				t.Errorf("offset %d outside the input", se.Offset)
			}
			if !strings.HasPrefix(err.Error(), "messages: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
			if v.From != nil || v.HasCaps || len(v.Caps2) != 0 {
				t.Errorf("view not cleared after error: %+v", v)
			}
			if _, refErr := refPresence(b); refErr == nil {
				t.Errorf("the reference accepts it")
			}
		})
	}
}

func TestSyntaxErrorOffset(t *testing.T) {
	_, err := messages.ParsePresence([]byte(`<presence><c></d></presence>`))
	var se *messages.SyntaxError
	if !errors.As(err, &se) {
		t.Fatalf("got %v", err)
	}
	if se.Offset != 15 {
		t.Errorf("got offset %d, want 15", se.Offset)
	}
	want := "messages: XML syntax error at offset 15: element <c> closed by </d>"
	if err.Error() != want {
		t.Errorf("got %q, want %q", err, want)
	}
}

func TestDecodePresenceLimits(t *testing.T) {
	deep := strings.Repeat("<a>", 64) + strings.Repeat("</a>", 64)
	hashes := func(n int) string {
		return `<presence><c ` + caps2NS + `>` + strings.Repeat(`<hash `+h2NS+` algo='sha-256'>x</hash>`, n) + `</c></presence>`
	}
	var attrs, decls strings.Builder
	for i := range 65 {
		attrs.WriteString(" a" + string(rune('A'+i/26)) + string(rune('a'+i%26)) + "='1'")
	}
	for i := range 33 {
		decls.WriteString("<e xmlns:p" + string(rune('A'+i/26)) + string(rune('a'+i%26)) + "='urn:x'>")
	}
	tests := []struct {
		name string
		lim  messages.Limits
		in   string
		want error // nil: must succeed
	}{
		{"size at default", messages.Limits{}, `<presence from='` + strings.Repeat("a", 64<<10-len(`<presence from=''/>`)) + `'/>`, nil},
		{"size over default", messages.Limits{}, `<presence from='` + strings.Repeat("a", 64<<10-len(`<presence from=''/>`)+1) + `'/>`, messages.ErrTooLarge},
		{"size over custom", messages.Limits{MaxPresenceBytes: 10}, `<presence/> `, messages.ErrTooLarge},
		{"depth 64", messages.Limits{}, `<presence>` + deep[3:len(deep)-4] + `</presence>`, nil},
		{"depth 65", messages.Limits{}, `<presence>` + deep + `</presence>`, messages.ErrTooDeep},
		{"depth custom", messages.Limits{MaxDepth: 2}, `<presence><a><b/></a></presence>`, messages.ErrTooDeep},
		{"depth counts skipped elements", messages.Limits{MaxDepth: 2}, `<message><a><b/></a></message>`, messages.ErrTooDeep},
		{"attributes 64", messages.Limits{}, `<presence` + attrs.String()[:64*7] + `/>`, nil},
		{"attributes 65", messages.Limits{}, `<presence` + attrs.String() + `/>`, messages.ErrTooMany},
		{"namespaces 33", messages.Limits{}, `<presence>` + decls.String() + strings.Repeat("</e>", 33) + `</presence>`, messages.ErrTooMany},
		{"namespaces 32", messages.Limits{}, `<presence>` + decls.String()[:strings.LastIndex(decls.String(), "<e")] + strings.Repeat("</e>", 32) + `</presence>`, nil},
		{"hashes 16", messages.Limits{}, hashes(16), nil},
		{"hashes 17", messages.Limits{}, hashes(17), messages.ErrTooMany},
		{"hashes custom", messages.Limits{MaxCaps2Hashes: 1}, hashes(2), messages.ErrTooMany},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := messages.Decoder{Limits: tc.lim}
			var v messages.PresenceView
			err := d.DecodePresence([]byte(tc.in), &v)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("got %v", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestAppendKeys(t *testing.T) {
	k115, _ := hashing.ParseKey(hashing.XEP0115, hashing.SHA1, ver1)
	k256, _ := hashing.ParseKey(hashing.XEP0390, hashing.SHA256, sum256)
	k3, _ := hashing.ParseKey(hashing.XEP0390, hashing.SHA3_256, sum3)
	tests := []struct {
		name    string
		in      string
		want    []hashing.Key
		wantErr error
	}{
		{"both schemes", benchPresences[1].xml, []hashing.Key{
			mustKey(t, hashing.XEP0115, hashing.SHA1, ver2), k256, k3}, nil},
		{"xep0115", `<presence><c ` + capsNS + ` hash='sha-1' node='n' ver='` + ver1 + `'/></presence>`, []hashing.Key{k115}, nil},
		{"legacy caps add nothing", `<presence><c ` + capsNS + ` node='n' ver='1.0' ext='a'/></presence>`, nil, nil},
		{"no caps", `<presence/>`, nil, nil},
		{"md5 is verifiable under xep0115", `<presence><c ` + capsNS + ` hash='md5' ver='1B2M2Y8AsgTpgAmY7PhCfg=='/></presence>`,
			[]hashing.Key{mustKey(t, hashing.XEP0115, hashing.MD5, "1B2M2Y8AsgTpgAmY7PhCfg==")}, nil},
		{"unknown algorithm keeps the others",
			`<presence><c ` + capsNS + ` hash='SHA-1' ver='` + ver1 + `'/><c ` + caps2NS + `><hash ` + h2NS + ` algo='sha-256'>` + sum256 + `</hash></c></presence>`,
			[]hashing.Key{k256}, hashing.ErrUnknownAlgorithm},
		{"sha-1 not allowed in xep0390",
			`<presence><c ` + caps2NS + `><hash ` + h2NS + ` algo='sha-1'>` + ver1 + `</hash><hash ` + h2NS + ` algo='sha3-256'>` + sum3 + `</hash></c></presence>`,
			[]hashing.Key{k3}, hashing.ErrAlgorithmNotAllowed},
		{"bad base64", `<presence><c ` + capsNS + ` hash='sha-1' ver='QgayPKawpkPSDYmwT/WM94uAlu0*'/></presence>`, nil, hashing.ErrBadVer},
		{"non-canonical padding bits", `<presence><c ` + capsNS + ` hash='sha-1' ver='QgayPKawpkPSDYmwT/WM94uAlu1='/></presence>`, nil, hashing.ErrBadVer},
		{"newline in value", "<presence><c " + caps2NS + "><hash " + h2NS + " algo='sha-256'>kzBZbkqJ3ADrj7v08reD1qcWUwNGHaidNUgD7nHp\niw8</hash></c></presence>", nil, hashing.ErrBadVer},
		{"wrong length", `<presence><c ` + capsNS + ` hash='sha-1' ver='` + sum256 + `'/></presence>`, nil, hashing.ErrVerLength},
		{"empty ver", `<presence><c ` + capsNS + ` hash='sha-1'/></presence>`, nil, hashing.ErrVerLength},
		{"first error wins", `<presence><c ` + capsNS + ` hash='sha-1' ver=''/><c ` + caps2NS + `><hash ` + h2NS + ` algo='x'>` + sum256 + `</hash></c></presence>`, nil, hashing.ErrVerLength},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var d messages.Decoder
			var v messages.PresenceView
			if err := d.DecodePresence([]byte(tc.in), &v); err != nil {
				t.Fatal(err)
			}
			got, err := v.AppendKeys(nil)
			if err != tc.wantErr {
				t.Errorf("got error %v, want %v", err, tc.wantErr)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
			got2, err2 := v.Presence().AppendKeys(nil)
			if err2 != err || !reflect.DeepEqual(got2, got) {
				t.Errorf("Presence.AppendKeys: got %v, %v; view gave %v, %v", got2, err2, got, err)
			}
		})
	}
}

func mustKey(t *testing.T, s hashing.Scheme, a hashing.Algorithm, ver string) hashing.Key {
	t.Helper()
	k, err := hashing.ParseKey(s, a, ver)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestDecodePresenceNoAllocs(t *testing.T) {
	var d messages.Decoder
	var v messages.PresenceView
	keys := make([]hashing.Key, 0, 4)
	for _, p := range benchPresences {
		b := []byte(p.xml)
		if err := d.DecodePresence(b, &v); err != nil {
			t.Fatal(err)
		}
		allocs := testing.AllocsPerRun(100, func() {
			if err := d.DecodePresence(b, &v); err != nil {
				t.Fatal(err)
			}
			keys, _ = v.AppendKeys(keys[:0])
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per decode, want 0", p.name, allocs)
		}
	}
	// A bad announcement costs no allocation either.
	b := []byte(`<presence><c ` + capsNS + ` hash='sha-1' ver='*'/><c ` + caps2NS + `><hash ` + h2NS + ` algo='sha-1'>` + ver1 + `</hash></c></presence>`)
	allocs := testing.AllocsPerRun(100, func() {
		if err := d.DecodePresence(b, &v); err != nil {
			t.Fatal(err)
		}
		keys, _ = v.AppendKeys(keys[:0])
	})
	if allocs != 0 {
		t.Errorf("bad hashes: %v allocations per decode, want 0", allocs)
	}
}

// TestPresenceViewLifetime checks that a view's slices stay what they were
// until the next decode, even when they were decoded into scratch space.
func TestPresenceViewLifetime(t *testing.T) {
	var d messages.Decoder
	var v messages.PresenceView
	in := `<presence from='a&amp;b' to='c'><c ` + caps2NS + `><hash ` + h2NS + ` algo='sha-256'>x<!---->y</hash><hash ` + h2NS + ` algo='s&#x68;a3-256'>z&amp;</hash></c></presence>`
	if err := d.DecodePresence([]byte(in), &v); err != nil {
		t.Fatal(err)
	}
	want := &messages.Presence{From: "a&b", To: "c", Caps2: []messages.Hash{{"sha-256", "xy"}, {"sha3-256", "z&"}}}
	if got := v.Presence(); !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", show(got), show(want))
	}
	if err := d.DecodePresence([]byte(`<presence/>`), &v); err != nil {
		t.Fatal(err)
	}
	if got := v.Presence(); !reflect.DeepEqual(got, &messages.Presence{}) {
		t.Errorf("stale data after the next decode: %+v", show(got))
	}
}

func TestDecoderLimitsChange(t *testing.T) {
	var d messages.Decoder
	var v messages.PresenceView
	b := []byte(`<presence><a><b/></a></presence>`)
	if err := d.DecodePresence(b, &v); err != nil {
		t.Fatal(err)
	}
	d.Limits.MaxDepth = 2
	if err := d.DecodePresence(b, &v); !errors.Is(err, messages.ErrTooDeep) {
		t.Fatalf("after lowering MaxDepth: got %v, want ErrTooDeep", err)
	}
	d.Limits = messages.Limits{}
	if err := d.DecodePresence(b, &v); err != nil {
		t.Fatalf("after resetting Limits: %v", err)
	}
}
