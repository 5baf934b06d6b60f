package messages_test

// Realistic stanzas, shaped after what the named clients and servers send,
// shared by the table tests, the fuzz corpora and the benchmarks.

// benchPresences are ~300–400-byte presences of the kinds the ingest path
// sees most.
var benchPresences = []struct{ name, xml string }{
	{"xep0115", `<presence xmlns='jabber:client' from='juliet@capulet.lit/gajim.A1B2C3D4' to='romeo@montague.lit' id='4f3c2a1b-9d8e-4b7a-8c6d-5e4f3a2b1c0d'><priority>50</priority><show>chat</show><status>Wherefore art thou, Romeo?</status><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='https://gajim.org' ver='QgayPKawpkPSDYmwT/WM94uAlu0='/></presence>`},
	{"xep0390", `<presence xmlns='jabber:client' from='romeo@montague.lit/Conversations.xyz1' to='juliet@capulet.lit' id='pr-0001'><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='http://conversations.im' ver='q07IKJEyjvHSyhy//CH0CxmKi8w='/><c xmlns='urn:xmpp:caps'><hash xmlns='urn:xmpp:hashes:2' algo='sha-256'>kzBZbkqJ3ADrj7v08reD1qcWUwNGHaidNUgD7nHpiw8=</hash><hash xmlns='urn:xmpp:hashes:2' algo='sha3-256'>79mdYAfU9rEdTOcWDO7UEAt6E56SUzk/g6TnqUeuD9Q=</hash></c></presence>`},
	{"muc", `<presence xmlns='jabber:client' from='coven@chat.shakespeare.lit/thirdwitch' to='hag66@shakespeare.lit/pda' id='n13mt3l'><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='https://dino.im' ver='QgayPKawpkPSDYmwT/WM94uAlu0='/><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='member' role='participant' jid='hag66@shakespeare.lit/pda'/></x></presence>`},
	{"extras", `<presence xmlns='jabber:client' from='juliet@capulet.lit/balcony' to='romeo@montague.lit/orchard' id='psi-42'><show>away</show><status>Out for a walk &amp; back soon</status><priority>5</priority><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='https://psi-im.org' ver='q07IKJEyjvHSyhy//CH0CxmKi8w='/><x xmlns='vcard-temp:x:update'><photo>01b87fcd030b72895ff8e88db57ec525450f000d</photo></x><delay xmlns='urn:xmpp:delay' from='capulet.lit' stamp='2002-09-10T23:41:07Z'/></presence>`},
}

// presenceSeeds seed FuzzDecodePresence beyond benchPresences.
var presenceSeeds = []string{
	// XEP-0115 examples.
	`<presence from='romeo@montague.lit/orchard'><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='http://code.google.com/p/exodus' ver='QgayPKawpkPSDYmwT/WM94uAlu0='/></presence>`,
	`<presence from='romeo@montague.lit/orchard'><c xmlns='http://jabber.org/protocol/caps' node='http://code.google.com/p/exodus' ver='0.9.1' ext='avatar pmuc-v1'/></presence>`,
	// XEP-0390 example.
	"<presence from='juliet@capulet.lit/balcony'>\n  <c xmlns='urn:xmpp:caps'>\n    <hash xmlns='urn:xmpp:hashes:2' algo='sha-256'>kzBZbkqJ3ADrj7v08reD1qcWUwNGHaidNUgD7nHpiw8=</hash>\n    <hash xmlns='urn:xmpp:hashes:2' algo='sha3-256'>79mdYAfU9rEdTOcWDO7UEAt6E56SUzk/g6TnqUeuD9Q=</hash>\n  </c>\n</presence>",
	// Psi+.
	`<presence xmlns="jabber:client" from="alice@example.org/psi" xml:lang="en"><priority>10</priority><c xmlns="http://jabber.org/protocol/caps" node="https://psi-plus.com" ver="cDCcsW1TIDqSaEFvbsgI3qYDfeI=" hash="sha-1"/><x xmlns="vcard-temp:x:update"><photo/></x></presence>`,
	// Conversations, with XEP-0319 idle and a MUC join element.
	`<presence xmlns="jabber:client" from="bob@example.org/Conversations.Ab3d" to="room@muc.example.org/bob" id="aB3dE"><x xmlns="http://jabber.org/protocol/muc"><history maxchars="0"/></x><c xmlns="http://jabber.org/protocol/caps" hash="sha-1" node="http://conversations.im" ver="HBBZuTQ0rHpzzS0SNXEKmz7SNUU="/><idle xmlns="urn:xmpp:idle:1" since="2024-01-01T10:00:00Z"/></presence>`,
	// Dino, XEP-0390 with a prefixed caps element.
	`<presence xmlns="jabber:client" from="carol@example.net/dino.7f2c"><c2:c xmlns:c2="urn:xmpp:caps"><h:hash xmlns:h="urn:xmpp:hashes:2" algo="sha-256">lZYQ2m0k5a5LJ1d9rZvOQ6xMrGhYNDz6P9Xq3b2s7tU=</h:hash></c2:c><c xmlns="http://jabber.org/protocol/caps" hash="sha-1" node="https://dino.im" ver="/8L9ZJgrR8/mWgBKhJbF5RR6mmw="/></presence>`,
	// slixmpp-style, double quotes, unavailable.
	`<presence xmlns="jabber:client" type="unavailable" from="bot@example.com/slixmpp" to="user@example.com"><status>Shutting down</status></presence>`,
	// Prosody MUC occupant with status codes.
	`<presence xmlns="jabber:client" from="room@conference.example.org/nick" to="me@example.org/res"><c xmlns="http://jabber.org/protocol/caps" hash="sha-1" node="http://pidgin.im/" ver="VUFD6HcFmUT2NxJkBGCiKlZnS3M="/><x xmlns="http://jabber.org/protocol/muc#user"><item jid="nick@example.org/pidgin" affiliation="none" role="participant"/><status code="100"/><status code="110"/></x><occupant-id xmlns="urn:xmpp:occupant-id:0" id="dGVzdA=="/></presence>`,
	// Server-to-server and component stanzas.
	`<presence xmlns='jabber:server' from='a@b.example/c' to='d@e.example'><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='n' ver='QgayPKawpkPSDYmwT/WM94uAlu0='/></presence>`,
	`<presence xmlns='jabber:component:accept' from='gw.example/x'/>`,
	`<presence/>`,
	// Prefixed stanza element, declaration, comments, PIs, CDATA, references.
	`<?xml version='1.0' encoding='UTF-8'?><cl:presence xmlns:cl='jabber:client' from='a&amp;b@c/&#x263A;'><!-- note --><?pi data?><c xmlns='urn:xmpp:caps'><hash xmlns='urn:xmpp:hashes:2' algo='sha-256'><![CDATA[kzBZbkqJ3ADrj7v08reD1qcWUwNGHaidNUgD7nHpiw8=]]></hash></c></cl:presence>`,
	"<presence from='a\tb\r\nc&#9;d'><status>x\r\ny</status></presence>",
	"\xEF\xBB\xBF<presence/>",
	// Malformed and unusual.
	`<presence><c xmlns='http://jabber.org/protocol/caps' ver='a' ver='b'/></presence>`,
	`<presence xmlns:x='urn:a' xmlns:y='urn:a'><c x:a='1' y:a='2'/></presence>`,
	`<presence><p:c/></presence>`,
	`<presence>&nbsp;</presence>`,
	`<presence>&#xD800;</presence>`,
	`<presence a='<'/>`,
	`<presence a='1'b='2'/>`,
	`<presence></presenc>`,
	`<presence/><presence/>`,
	`<presence/>text`,
	`<!DOCTYPE presence><presence/>`,
	`<presence>]]></presence>`,
	`<presence><!-- a -- b --></presence>`,
	`<presence xmlns:p=''/>`,
	`<xmlns:presence/>`,
	`<presence xmlns:xml='urn:not-xml'/>`,
	`<?xml version='1.1'?><presence/>`,
	` <?xml version='1.0'?><presence/>`,
	`<presence><?xml version='1.0'?></presence>`,
	`<presence><?a:b?></presence>`,
	`<a:1 xmlns:a='u'/>`,
	"<presence>\x01</presence>",
	"<presence>\xff</presence>",
	"<presence>\uFFFE</presence>",
	"<presence><!--\x01--></presence>",
	`<message xmlns='jabber:client'><body>hi</body></message>`,
	`<iq type='result'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`,
}

// discoSeeds seed FuzzParseDiscoInfo beyond the shared vectors and capsdb.
var discoSeeds = []string{
	`<iq xmlns='jabber:client' type='result' from='romeo@montague.lit/orchard' to='juliet@capulet.lit/chamber' id='disco1' xml:lang='en'><query xmlns='http://jabber.org/protocol/disco#info' node='http://code.google.com/p/exodus#QgayPKawpkPSDYmwT/WM94uAlu0=' xml:lang='de'><identity category='client' name='Exodus 0.9.1' type='pc'/><feature var='http://jabber.org/protocol/caps'/></query></iq>`,
	`<iq type='error' id='d2'><query xmlns='http://jabber.org/protocol/disco#info'/><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`,
	`<iq type='result' id='d3'/>`,
	`<query xmlns='http://jabber.org/protocol/disco#info'><query xmlns='http://jabber.org/protocol/disco#info'><feature var='inner'/></query><feature var='outer'/></query>`,
	`<query xmlns='http://jabber.org/protocol/disco#info'><x xmlns='jabber:x:data' type='result'><field var='FORM_TYPE' type='hidden'><value>urn:xmpp:dataforms:softwareinfo</value></field><field var='os'><value>  spaced &amp; <![CDATA[<cdata>]]> </value><option><value>ignored</value></option></field><field var='empty'/></x></query>`,
	`<d:query xmlns:d='http://jabber.org/protocol/disco#info' xmlns:f='jabber:x:data'><d:identity category='client' type='pc' xml:lang='en-GB' name='A'/><f:x><f:field var='v'><f:value>1</f:value></f:field></f:x></d:query>`,
	`<query xmlns='urn:other'/>`,
}
