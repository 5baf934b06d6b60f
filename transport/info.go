package transport

import (
	"fmt"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

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

// ValueError reports an identity or caps node, given by a user, that
// ParseIdentity or CheckNode refused.
type ValueError struct {
	What   string // "identity" or "node"
	Value  string
	Reason string // what is wrong, as a phrase ("the type is empty")
}

func (e *ValueError) Error() string {
	return fmt.Sprintf("transport: %s %q: %s", e.What, e.Value, e.Reason)
}

// ParseIdentity reads an identity written category/type/name, or
// category/type when it has no name; the name may itself contain '/'.
// Category and type must be non-empty and free of spaces; no part may hold
// invalid UTF-8 or control characters, which XML cannot carry unchanged
// (our disco#info would no longer match the hash we announce). FormatIdentity
// is its inverse. The error is a *ValueError.
func ParseIdentity(s string) (hashing.Identity, error) {
	bad := func(reason string) (hashing.Identity, error) {
		return hashing.Identity{}, &ValueError{What: "identity", Value: s, Reason: reason}
	}
	parts := strings.SplitN(s, "/", 3)
	if len(parts) < 2 {
		return bad("want category/type/name (the name may be left out), e.g. client/bot/capsengine")
	}
	id := hashing.Identity{Category: parts[0], Type: parts[1]}
	if len(parts) == 3 {
		id.Name = parts[2]
	}
	for _, p := range []struct{ what, v string }{{"category", id.Category}, {"type", id.Type}} {
		switch {
		case p.v == "":
			return bad("the " + p.what + " is empty")
		case strings.IndexFunc(p.v, unicode.IsSpace) >= 0:
			return bad("the " + p.what + " contains a space")
		}
	}
	if !printable(s) {
		return bad("it contains invalid UTF-8 or a control character")
	}
	return id, nil
}

// FormatIdentity writes id as ParseIdentity reads it: category/type/name,
// or category/type without a name. The language is not written.
func FormatIdentity(id hashing.Identity) string {
	s := id.Category + "/" + id.Type
	if id.Name != "" {
		s += "/" + id.Name
	}
	return s
}

// CheckNode reports whether node can be our XEP-0115 caps node (the
// engine's Tuning.LocalNode): an absolute URI naming the software
// (XEP-0115 §4), without a fragment, since peers query it as node#ver,
// and without spaces or control characters. The error is a *ValueError.
func CheckNode(node string) error {
	bad := func(reason string) error { return &ValueError{What: "node", Value: node, Reason: reason} }
	if !printable(node) || strings.IndexFunc(node, unicode.IsSpace) >= 0 {
		return bad("it contains a space, a control character or invalid UTF-8")
	}
	if strings.Contains(node, "#") {
		return bad("it contains '#', which separates the node from the hash in queries (node#ver)")
	}
	u, err := url.Parse(node)
	if err != nil || u.Scheme == "" || u.Opaque == "" && u.Host == "" && u.Path == "" {
		return bad("want an absolute URI naming the software, e.g. https://example.org/mybot")
	}
	return nil
}

// printable reports whether s is valid UTF-8 without control characters
// or the two non-characters XML forbids.
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	return strings.IndexFunc(s, func(r rune) bool {
		return unicode.IsControl(r) || r == 0xFFFE || r == 0xFFFF
	}) < 0
}
