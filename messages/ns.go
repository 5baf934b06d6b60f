package messages

import "github.com/capsengine/capsengine/hashing"

// XML namespaces of the payloads this package reads and writes.
const (
	// NSClient, NSServer and NSComponent are the stanza namespaces
	// (RFC 6120 §4.8.3, XEP-0114). A stanza is also accepted with no
	// namespace at all, as a server's router hands it over detached from
	// its stream.
	NSClient    = "jabber:client"
	NSServer    = "jabber:server"
	NSComponent = "jabber:component:accept"

	NSCaps      = "http://jabber.org/protocol/caps"       // XEP-0115 <c/>
	NSCaps2     = hashing.Caps2Namespace                  // XEP-0390 <c/>
	NSHashes2   = "urn:xmpp:hashes:2"                     // XEP-0300 <hash/>
	NSDiscoInfo = "http://jabber.org/protocol/disco#info" // XEP-0030 <query/>
	NSDataForms = "jabber:x:data"                         // XEP-0004 <x/>
	NSMUCUser   = "http://jabber.org/protocol/muc#user"   // XEP-0045 occupant <x/>

	// NSXML is the namespace of the xml: prefix (xml:lang).
	NSXML = "http://www.w3.org/XML/1998/namespace"
)

func isStanzaNS(ns []byte) bool {
	switch string(ns) {
	case "", NSClient, NSServer, NSComponent:
		return true
	}
	return false
}
