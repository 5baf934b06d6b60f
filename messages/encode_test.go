package messages_test

import (
	"encoding/xml"
	"reflect"
	"testing"

	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/messages"
)

func TestAppendPresence(t *testing.T) {
	tests := []struct {
		name string
		in   *messages.Presence
		want string
	}{
		{"empty", &messages.Presence{}, `<presence/>`},
		{"full", &messages.Presence{
			From: "juliet@capulet.lit/balcony", To: "romeo@montague.lit", ID: "p1", Type: "unavailable",
			Caps:  caps115("http://psi-im.org", ver2),
			Caps2: []messages.Hash{{"sha-256", sum256}},
			MUC:   true,
		}, `<presence from='juliet@capulet.lit/balcony' to='romeo@montague.lit' id='p1' type='unavailable'>` +
			`<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='http://psi-im.org' ver='` + ver2 + `'/>` +
			`<c xmlns='urn:xmpp:caps'><hash xmlns='urn:xmpp:hashes:2' algo='sha-256'>` + sum256 + `</hash></c>` +
			`<x xmlns='http://jabber.org/protocol/muc#user'/></presence>`},
		{"legacy caps", &messages.Presence{Caps: &messages.Caps{Node: "n", Ver: "1.0", Ext: "a b"}},
			`<presence><c xmlns='http://jabber.org/protocol/caps' node='n' ver='1.0' ext='a b'/></presence>`},
		{"escaping", &messages.Presence{From: "a&b<c>'d\"\t\n\r", Caps2: []messages.Hash{{"x'", "a&b<c>]]>\t\n\r"}}},
			`<presence from='a&amp;b&lt;c>&apos;d"&#x9;&#xA;&#xD;'><c xmlns='urn:xmpp:caps'><hash xmlns='urn:xmpp:hashes:2' algo='x&apos;'>a&amp;b&lt;c&gt;]]&gt;` + "\t\n" + `&#xD;</hash></c></presence>`},
		{"unrepresentable characters", &messages.Presence{From: "a\x00b\xffc\uFFFEd\U0001F600"},
			"<presence from='a\uFFFDb\uFFFDc\uFFFDd\U0001F600'/>"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			prefix := []byte("<<")
			got := messages.AppendPresence(prefix, tc.in)
			if string(got[2:]) != tc.want {
				t.Errorf("got  %s\nwant %s", got[2:], tc.want)
			}
			if string(got[:2]) != "<<" {
				t.Errorf("dst prefix overwritten")
			}
			// encoding/xml reads it too.
			if err := xml.Unmarshal(got[2:], new(struct{})); err != nil {
				t.Errorf("encoding/xml: %v", err)
			}
			back, err := messages.ParsePresence(got[2:])
			if err != nil {
				t.Fatal(err)
			}
			if want := sanitizePresence(tc.in); !reflect.DeepEqual(back, want) {
				t.Errorf("round trip: got %+v, want %+v", show(back), show(want))
			}
		})
	}
}

func TestAppendCaps2Empty(t *testing.T) {
	if got := string(messages.AppendCaps2(nil, nil)); got != `<c xmlns='urn:xmpp:caps'/>` {
		t.Errorf("got %s", got)
	}
}

func TestAppendDiscoInfo(t *testing.T) {
	in := &hashing.Info{
		Node: "http://psi-im.org#" + ver2,
		Identities: []hashing.Identity{
			{Category: "client", Type: "pc", Lang: "en", Name: "Psi 0.11"},
			{Category: "client", Type: "pc", Name: "Tom & Jerry"},
		},
		Features: []string{"http://jabber.org/protocol/caps"},
		Forms: []hashing.Form{{Type: "result", Fields: []hashing.Field{
			{Var: "FORM_TYPE", Type: "hidden", Values: []string{"urn:xmpp:dataforms:softwareinfo"}},
			{Var: "ip_version", Type: "text-multi", Values: []string{"ipv4", " ipv6\r\n"}},
			{Var: "empty"},
		}}, {}},
	}
	want := `<query xmlns='http://jabber.org/protocol/disco#info' node='http://psi-im.org#` + ver2 + `'>` +
		`<identity category='client' type='pc' xml:lang='en' name='Psi 0.11'/>` +
		`<identity category='client' type='pc' name='Tom &amp; Jerry'/>` +
		`<feature var='http://jabber.org/protocol/caps'/>` +
		`<x xmlns='jabber:x:data' type='result'>` +
		`<field var='FORM_TYPE' type='hidden'><value>urn:xmpp:dataforms:softwareinfo</value></field>` +
		`<field var='ip_version' type='text-multi'><value>ipv4</value><value> ipv6&#xD;` + "\n" + `</value></field>` +
		`<field var='empty'/></x><x xmlns='jabber:x:data'/></query>`
	got := messages.AppendDiscoInfo(nil, in)
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	back, err := messages.ParseDiscoInfo(got)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(normInfo(back), normInfo(in)) {
		t.Errorf("round trip: got %+v", back)
	}
	// The hash survives the round trip.
	v1, err1 := hashing.Ver(hashing.SHA1, in)
	v2, err2 := hashing.Ver(hashing.SHA1, back)
	if err1 != nil || err2 != nil || v1 != v2 {
		t.Errorf("ver %q, %v before; %q, %v after", v1, err1, v2, err2)
	}
	if got := string(messages.AppendDiscoInfo(nil, &hashing.Info{})); got != `<query xmlns='http://jabber.org/protocol/disco#info'/>` {
		t.Errorf("empty: got %s", got)
	}
}

func TestAppendPresenceNoAllocs(t *testing.T) {
	p := &messages.Presence{From: "a@b/c", Caps: caps115("n", ver1), Caps2: []messages.Hash{{"sha-256", sum256}}}
	buf := make([]byte, 0, 1024)
	allocs := testing.AllocsPerRun(100, func() {
		buf = messages.AppendPresence(buf[:0], p)
	})
	if allocs != 0 {
		t.Errorf("%v allocations, want 0", allocs)
	}
}
