package hashing

import (
	"fmt"
	"strings"
)

// Where a hash's disco#info is asked for, and which of a presence's hashes
// decides it: the one place that knows either.

// Caps2Namespace is XEP-0390's namespace, which its query nodes start with.
const Caps2Namespace = "urn:xmpp:caps"

// CapsNode is the XEP-0115 query node of ver announced with the caps node
// attribute node: "node#ver" (XEP-0115 §6.2).
func CapsNode(node, ver string) string { return node + "#" + ver }

// Caps2Node is the XEP-0390 query node of the hash value (base64) under
// alg: "urn:xmpp:caps#alg.value" (XEP-0390 §3.2).
func Caps2Node(alg Algorithm, value string) string {
	return Caps2Namespace + "#" + alg.String() + "." + value
}

// QueryNode is the node a disco#info query for k is sent to. node is the
// XEP-0115 node attribute of the presence that announced k; XEP-0390
// ignores it.
func (k Key) QueryNode(node string) string {
	if k.Scheme == XEP0390 {
		return Caps2Node(k.Alg, k.Ver())
	}
	return CapsNode(node, k.Ver())
}

// ParseQueryNode is the inverse of QueryNode for XEP-0115 SHA-1 keys and
// XEP-0390 keys: the key a disco#info query node asks about, and for
// XEP-0115 the caps node before the '#' ("" for XEP-0390). XEP-0115 nodes
// name no algorithm: SHA-1, the only one in use, is assumed.
func ParseQueryNode(n string) (Key, string, error) {
	if rest, ok := strings.CutPrefix(n, Caps2Namespace+"#"); ok {
		algName, value, ok := strings.Cut(rest, ".")
		if !ok {
			return Key{}, "", fmt.Errorf("hashing: bad XEP-0390 query node %q", n)
		}
		alg, err := ParseAlgorithm(algName)
		if err != nil {
			return Key{}, "", err
		}
		k, err := ParseKey(XEP0390, alg, value)
		return k, "", err
	}
	i := strings.LastIndexByte(n, '#')
	if i < 0 {
		return Key{}, "", fmt.Errorf("hashing: query node %q names no ver", n)
	}
	k, err := ParseKey(XEP0115, SHA1, n[i+1:])
	return k, n[:i], err
}

// caps2Preference orders XEP-0390 algorithms for the key a presence is
// resolved by: the first one present wins.
var caps2Preference = [...]Algorithm{
	SHA256, SHA3_256, BLAKE2b256,
	SHA512, SHA3_512, BLAKE2b512,
}

// Deciding is the index in ks of the key a presence carrying ks is
// resolved by: the preferred XEP-0390 hash when there is one, since a
// XEP-0115 hit alone never resolves a presence that carries XEP-0390
// hashes (XEP-0390 §4), else the first. -1 when ks is empty.
func Deciding(ks []Key) int {
	if len(ks) == 0 {
		return -1
	}
	for _, a := range caps2Preference {
		for i, k := range ks {
			if k.Scheme == XEP0390 && k.Alg == a {
				return i
			}
		}
	}
	return 0
}
