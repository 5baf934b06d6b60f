package transport

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// XEP-0356 namespaces. Version 2 is the current one (Prosody 0.12's
// mod_privilege); version 1 is what ejabberd 23.01 still sends.
const (
	NSPrivilege2 = "urn:xmpp:privilege:2"
	NSPrivilege1 = "urn:xmpp:privilege:1"
)

// Privileges are the permissions a server granted this component under
// XEP-0356 (Privileged Entity), as its advertisement said.
type Privileges struct {
	// Namespace is the XEP-0356 version the server speaks.
	Namespace string `json:"namespace"`
	// Server is the JID the advertisement came from.
	Server string `json:"server"`
	// Presence is "managed_entity" (every presence of the server's own
	// users), "roster" (theirs and their contacts'), or "" (none).
	Presence string `json:"presence,omitempty"`
	// Roster is "get", "set", "both" or ""; Message "outgoing" or "".
	Roster  string `json:"roster,omitempty"`
	Message string `json:"message,omitempty"`
	// IQ lists the namespaces of the IQ permission (version 2).
	IQ []string `json:"iq,omitempty"`
}

// SeesPresences reports whether the server forwards its users' presences.
func (p Privileges) SeesPresences() bool {
	return p.Presence == "managed_entity" || p.Presence == "roster"
}

// SendsOnlineUsers reports whether the server sends the presence of the
// users already online when the component connects, as XEP-0356 asks.
// Servers of version 1 do not (ejabberd 23.01, measured): those users are
// seen at their next presence only.
func (p Privileges) SendsOnlineUsers() bool {
	return p.SeesPresences() && p.Namespace == NSPrivilege2
}

// String is the advertisement in one line, for logs.
func (p Privileges) String() string {
	none := func(s string) string {
		if s == "" {
			return "none"
		}
		return s
	}
	return fmt.Sprintf("%s from %s: presence=%s roster=%s message=%s iq=%s", p.Namespace, p.Server,
		none(p.Presence), none(p.Roster), none(p.Message), none(strings.Join(p.IQ, ",")))
}

// maxPerms bounds the permissions read from one advertisement: a server
// grants four kinds, and a few IQ namespaces.
const maxPerms = 64

var (
	// ErrNotPrivilege: the message carries no XEP-0356 advertisement.
	ErrNotPrivilege = errors.New("transport: not a privilege advertisement")
	errPrivilege    = errors.New("transport: malformed privilege advertisement")
)

type xmlPrivilegeMsg struct {
	XMLName xml.Name      `xml:"message"`
	From    string        `xml:"from,attr"`
	Priv    *xmlPrivilege `xml:"privilege"`
}

type xmlPrivilege struct {
	XMLName xml.Name  `xml:"privilege"`
	Perms   []xmlPerm `xml:"perm"`
}

type xmlPerm struct {
	Access     string `xml:"access,attr"`
	Type       string `xml:"type,attr"`
	Namespaces []struct {
		NS string `xml:"ns,attr"`
	} `xml:"namespace"`
}

// ParsePrivileges reads a XEP-0356 advertisement (a <message/> with a
// <privilege/> child of either version). Unknown permissions and values
// are ignored, as a newer server may grant more; "none" is read as none.
func ParsePrivileges(stanza []byte) (Privileges, error) {
	var m xmlPrivilegeMsg
	if err := xml.NewDecoder(bytes.NewReader(stanza)).Decode(&m); err != nil {
		return Privileges{}, fmt.Errorf("%w: %v", errPrivilege, err)
	}
	if m.Priv == nil {
		return Privileges{}, ErrNotPrivilege
	}
	ns := m.Priv.XMLName.Space
	if ns != NSPrivilege2 && ns != NSPrivilege1 {
		return Privileges{}, ErrNotPrivilege
	}
	if len(m.Priv.Perms) > maxPerms {
		return Privileges{}, fmt.Errorf("%w: %d permissions", errPrivilege, len(m.Priv.Perms))
	}
	p := Privileges{Namespace: ns, Server: m.From}
	for _, perm := range m.Priv.Perms {
		switch perm.Access {
		case "presence":
			p.Presence = oneOf(perm.Type, "managed_entity", "roster")
		case "roster":
			p.Roster = oneOf(perm.Type, "get", "set", "both")
		case "message":
			p.Message = oneOf(perm.Type, "outgoing")
		case "iq":
			for _, n := range perm.Namespaces {
				if n.NS != "" && len(p.IQ) < maxPerms && !slices.Contains(p.IQ, n.NS) {
					p.IQ = append(p.IQ, n.NS)
				}
			}
		}
	}
	return p, nil
}

func oneOf(v string, allowed ...string) string {
	if slices.Contains(allowed, v) {
		return v
	}
	return ""
}
