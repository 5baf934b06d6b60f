package messages

import "github.com/capsengine/capsengine/hashing"

// QueryNode is the disco#info node at which an entity answers for k: the
// announced caps node, '#' and the ver for XEP-0115 (§6.2), and
// urn:xmpp:caps#ALGO.VALUE for XEP-0390 (§4.3), where the caps node plays
// no part.
func QueryNode(k hashing.Key, node string) string {
	if k.Scheme == hashing.XEP0390 {
		return Caps2Node(k.Alg.String(), k.Ver())
	}
	return node + "#" + k.Ver()
}

// Caps2Node is the XEP-0390 query node of the hash value (base64) under
// the algorithm named algo.
func Caps2Node(algo, value string) string { return NSCaps2 + "#" + algo + "." + value }
