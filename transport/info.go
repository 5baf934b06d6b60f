package transport

import (
	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/messages"
)

// Features are the disco#info features a Conn implements: it answers
// disco#info (XEP-0030) and pings (XEP-0199), and announces XEP-0115 and
// XEP-0390 caps.
var Features = []string{messages.NSDiscoInfo, messages.NSCaps, messages.NSCaps2, nsPing}

// LocalInfo is a disco#info for the engine's SetLocal that describes a
// Conn truthfully: one identity (client/bot for a client, component/generic
// for a component) named name, and Features. It returns a new Info each
// time.
func LocalInfo(name string, component bool) *hashing.Info {
	id := hashing.Identity{Category: "client", Type: "bot", Name: name}
	if component {
		id = hashing.Identity{Category: "component", Type: "generic", Name: name}
	}
	return &hashing.Info{
		Identities: []hashing.Identity{id},
		Features:   append([]string(nil), Features...),
	}
}
