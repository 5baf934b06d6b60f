package interop

import (
	"fmt"

	"github.com/capsengine/capsengine/internal/xmpptest"
)

// Feature namespaces real clients announce.
var (
	base = []string{
		"http://jabber.org/protocol/disco#info", "http://jabber.org/protocol/disco#items",
		"http://jabber.org/protocol/caps", "urn:xmpp:ping", "urn:xmpp:time", "jabber:iq:version",
	}
	chat = []string{
		"urn:xmpp:receipts", "http://jabber.org/protocol/chatstates", "urn:xmpp:chat-markers:0",
		"urn:xmpp:message-correct:0", "urn:xmpp:hints", "urn:xmpp:sid:0", "jabber:x:oob",
		"http://jabber.org/protocol/muc", "jabber:x:conference", "urn:xmpp:carbons:2",
	}
	pep = []string{
		"urn:xmpp:avatar:metadata+notify", "http://jabber.org/protocol/nick+notify",
		"urn:xmpp:bookmarks:1+notify", "eu.siacs.conversations.axolotl.devicelist+notify",
	}
	jingle = []string{
		"urn:xmpp:jingle:1", "urn:xmpp:jingle:apps:rtp:1", "urn:xmpp:jingle:apps:rtp:audio",
		"urn:xmpp:jingle:apps:rtp:video", "urn:xmpp:jingle:transports:ice-udp:1",
		"urn:xmpp:jingle:apps:dtls:0", "urn:xmpp:jingle-message:0",
	}
	files = []string{
		"urn:xmpp:jingle:apps:file-transfer:5", "urn:xmpp:jingle:transports:s5b:1",
		"urn:xmpp:jingle:transports:ibb:1", "http://jabber.org/protocol/si",
		"http://jabber.org/protocol/si/profile/file-transfer", "http://jabber.org/protocol/bytestreams",
		"http://jabber.org/protocol/ibb",
	}
	extras = [][]string{
		{"urn:xmpp:reactions:0", "urn:xmpp:message-retract:1", "urn:xmpp:styling:0"},
		{"http://jabber.org/protocol/tune+notify", "http://jabber.org/protocol/geoloc+notify"},
		{"urn:xmpp:omemo:2:devices+notify", "urn:xmpp:eme:0"},
		{"http://jabber.org/protocol/xhtml-im", "urn:xmpp:bob", "urn:xmpp:attention:0"},
		{"jabber:iq:last", "urn:xmpp:idle:1", "urn:xmpp:spoiler:0"},
		{"http://jabber.org/protocol/mood+notify", "http://jabber.org/protocol/activity+notify"},
	}
)

// client is a real client's identity, with names in several languages.
type client struct {
	name  string
	ids   []xmpptest.Identity
	forms bool
}

var clients = []client{
	{"Gajim", []xmpptest.Identity{{Category: "client", Type: "pc", Name: "Gajim"}}, true},
	{"Conversations", []xmpptest.Identity{{Category: "client", Type: "phone", Name: "Conversations"}}, true},
	{"Dino", []xmpptest.Identity{
		{Category: "client", Type: "pc", Lang: "en", Name: "Dino"},
		{Category: "client", Type: "pc", Lang: "de", Name: "Dino (Deutsch)"},
		{Category: "client", Type: "pc", Lang: "ru", Name: "Дино"},
	}, false},
	{"Psi", []xmpptest.Identity{{Category: "client", Type: "pc", Lang: "en", Name: "Psi+"}}, true},
	{"Poezio", []xmpptest.Identity{
		{Category: "client", Type: "console", Lang: "en", Name: "Poezio"},
		{Category: "client", Type: "console", Lang: "fr", Name: "Poézio"},
	}, false},
	{"Profanity", []xmpptest.Identity{{Category: "client", Type: "console", Name: "Profanity"}}, true},
	{"Monal", []xmpptest.Identity{
		{Category: "client", Type: "phone", Lang: "en", Name: "Monal IM"},
		{Category: "client", Type: "phone", Lang: "ja", Name: "モナル"},
	}, true},
	{"Movim", []xmpptest.Identity{{Category: "client", Type: "web", Lang: "en", Name: "Movim"}}, false},
	{"Kaidan", []xmpptest.Identity{
		{Category: "client", Type: "pc", Lang: "en", Name: "Kaidan"},
		{Category: "client", Type: "pc", Lang: "es", Name: "Kaidán"},
		{Category: "client", Type: "pc", Lang: "el", Name: "Κάινταν"},
	}, true},
	{"Siskin", []xmpptest.Identity{{Category: "client", Type: "phone", Lang: "pl", Name: "Siskin IM"}}, false},
	{"Cheogram", []xmpptest.Identity{
		{Category: "client", Type: "phone", Name: "Cheogram"},
		{Category: "client", Type: "phone", Lang: "pt", Name: "Cheogram (português)"},
	}, true},
	{"Pidgin", []xmpptest.Identity{{Category: "client", Type: "pc", Lang: "nl", Name: "Pidgin"}}, false},
	{"Swift", []xmpptest.Identity{{Category: "client", Type: "pc", Lang: "sv", Name: "Swift.IM"}}, true},
	{"Beagle", []xmpptest.Identity{{Category: "client", Type: "pc", Lang: "en", Name: "Beagle IM"}}, false},
}

// profile returns a realistic peer spec, different for every i: a client's
// identities, a mix of feature groups, and for some a XEP-0128 software
// information form (one with a multi-valued field).
func profile(name, jid string, i int) xmpptest.PeerSpec {
	c := clients[i%len(clients)]
	feats := append([]string(nil), base...)
	feats = append(feats, chat...)
	if i%2 == 0 {
		feats = append(feats, pep...)
	}
	if i%3 != 1 {
		feats = append(feats, jingle...)
	}
	if i%4 == 0 {
		feats = append(feats, files...)
	}
	feats = append(feats, extras[i%len(extras)]...)
	// One feature unique to the peer: every peer has a ver of its own.
	feats = append(feats, fmt.Sprintf("urn:capsengine:interop:%s", name))
	spec := xmpptest.PeerSpec{
		Name: name, JID: jid, Password: name + "-pw",
		Identities: c.ids, Features: feats,
	}
	if c.forms {
		spec.Forms = []xmpptest.FormSpec{{
			FormType: "urn:xmpp:dataforms:softwareinfo",
			Fields: []xmpptest.FieldSpec{
				{Var: "software", Values: []string{c.name}},
				{Var: "software_version", Values: []string{fmt.Sprintf("1.%d.0", i)}},
				{Var: "os", Values: []string{[]string{"Linux", "Android", "iOS", "Windows"}[i%4]}},
				{Var: "ip_version", Values: []string{"ipv4", "ipv6"}},
			},
		}}
		if i%3 == 0 {
			spec.Forms = append(spec.Forms, xmpptest.FormSpec{
				FormType: "urn:xmpp:dataforms:contact",
				Fields:   []xmpptest.FieldSpec{{Var: "support-addresses", Values: []string{"xmpp:support@example.org"}}},
			})
		}
	}
	return spec
}
