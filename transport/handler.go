package transport

import (
	"context"
	"encoding/xml"
	"errors"
	"strings"

	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"

	"github.com/capsengine/capsengine/messages"
)

const nsPing = "urn:xmpp:ping"

// handler handles every stanza the session receives. It runs on the
// session's read loop and writes its answers through the handler's own
// writer, never through the Session (mellium's rule).
func (c *Conn) handler(ctx context.Context) xmpp.Handler {
	var el element
	return xmpp.HandlerFunc(func(rw xmlstream.TokenReadEncoder, start *xml.StartElement) error {
		c.st.stanzas.Add(1)
		err := el.readElement(*start, rw, c.cfg.MaxStanzaBytes)
		switch {
		case errors.Is(err, errTooLarge):
			c.st.tooLarge.Add(1)
			return nil // Serve skips what is left of it
		case errors.Is(err, errBadName):
			c.st.malformed.Add(1)
			return nil
		}
		if err != nil {
			return err
		}
		switch start.Name.Local {
		case "presence":
			return c.onPresence(ctx, rw, &el)
		case "iq":
			return c.onIQ(rw, &el)
		case "message":
			c.onMessage(&el)
		}
		return nil
	})
}

func (c *Conn) onIQ(w xmlstream.TokenWriter, el *element) error {
	if el.typ != "get" && el.typ != "set" {
		return nil // answers to our own queries are routed by mellium; late ones land here
	}
	var payload []byte
	cond := ""
	switch {
	case el.typ == "get" && el.child == xml.Name{Space: messages.NSDiscoInfo, Local: "query"}:
		info, ok := c.eng.LocalInfo(el.childNode)
		if !ok {
			cond = "item-not-found"
			break
		}
		answer := *info
		answer.Node = el.childNode
		payload = messages.AppendDiscoInfo(nil, &answer)
		c.st.discoAnswered.Add(1)
	case el.typ == "get" && el.child == xml.Name{Space: nsPing, Local: "ping"}:
	default:
		cond = "service-unavailable"
	}
	b := []byte("<iq")
	if cond != "" {
		b = appendAttr(b, "type", "error")
		c.st.iqErrorsSent.Add(1)
	} else {
		b = appendAttr(b, "type", "result")
	}
	b = appendAttr(b, "id", el.id)
	if el.from != "" {
		b = appendAttr(b, "to", el.from)
	}
	if c.cfg.Component {
		b = appendAttr(b, "from", c.addr.String())
	}
	b = append(b, '>')
	b = append(b, payload...)
	if cond != "" {
		b = append(b, "<error type='cancel'><"...)
		b = append(b, cond...)
		b = append(b, " xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>"...)
	}
	b = append(b, "</iq>"...)
	return write(w, b)
}

func (c *Conn) onPresence(ctx context.Context, w xmlstream.TokenWriter, el *element) error {
	from := el.from
	if from == "" || c.isSelf(from) {
		return nil
	}
	bare := from
	if j, err := jid.Parse(from); err == nil {
		bare = j.Bare().String()
	}
	switch el.typ {
	case "", "unavailable":
		if el.typ == "" {
			if c.cfg.Component && !c.cfg.Privileged && !c.isRoom(bare) {
				c.addContact(bare)
			}
			c.available(from)
		}
		c.ingest(ctx, el.b)
	case "subscribe":
		if !c.cfg.AcceptSubscriptions {
			return nil
		}
		c.st.subscriptions.Add(1)
		c.log.Debug("xmpp subscription accepted", "jid", bare)
		if err := write(w, c.presenceOnly(bare, "subscribed")); err != nil {
			return err
		}
		if err := write(w, c.presenceOnly(bare, "subscribe")); err != nil {
			return err
		}
		if c.cfg.Component {
			c.addContact(bare)
			return c.writePresence(w, c.ownPresence(bare, ""))
		}
	case "subscribed":
		if c.cfg.Component {
			c.addContact(bare)
		}
	case "unsubscribe":
		if c.cfg.Component {
			c.removeContact(bare)
			return write(w, c.presenceOnly(bare, "unsubscribed"))
		}
	case "unsubscribed":
		if c.cfg.Component {
			c.removeContact(bare)
		}
	case "probe":
		if c.cfg.Component {
			return c.writePresence(w, c.ownPresence(from, ""))
		}
	}
	return nil
}

// onMessage reads the server's XEP-0356 advertisement; other messages are
// not ours to handle.
func (c *Conn) onMessage(el *element) {
	if !c.cfg.Privileged || el.child.Local != "privilege" ||
		(el.child.Space != NSPrivilege2 && el.child.Space != NSPrivilege1) {
		return
	}
	if el.from != c.privilegeServer() {
		// Anyone else's say (another server's, over s2s) grants nothing.
		c.log.Warn("xmpp privilege advertisement ignored: not from the server", "from", el.from, "want", c.privilegeServer())
		return
	}
	p, err := ParsePrivileges(el.b)
	if err != nil {
		c.st.malformed.Add(1)
		c.log.Warn("xmpp privilege advertisement", "err", err)
		return
	}
	c.mu.Lock()
	c.priv = &p
	c.mu.Unlock()
	c.log.Info("xmpp privileges granted (XEP-0356)", "namespace", p.Namespace, "server", p.Server,
		"presence", p.Presence, "roster", p.Roster, "message", p.Message)
	if c.cfg.OnPrivileges != nil {
		c.cfg.OnPrivileges(p)
	}
}

// privilegeServer is the JID whose privilege advertisement counts.
func (c *Conn) privilegeServer() string {
	if c.cfg.PrivilegeServer != "" {
		return c.cfg.PrivilegeServer
	}
	d := c.addr.Domainpart()
	if i := strings.IndexByte(d, '.'); i > 0 && i < len(d)-1 {
		return d[i+1:]
	}
	return d
}

func (c *Conn) writePresence(w xmlstream.TokenWriter, b []byte) error {
	c.st.presencesSent.Add(1)
	return write(w, b)
}

// ingest hands one available or unavailable presence to the engine.
func (c *Conn) ingest(ctx context.Context, stanza []byte) {
	p, err := messages.ParsePresence(stanza)
	if err != nil {
		// Let the engine count it with its own limits and counters.
		c.st.malformed.Add(1)
		_ = c.eng.IngestRaw(ctx, stanza)
		return
	}
	c.st.presences.Add(1)
	if c.cfg.OnPresence != nil {
		c.cfg.OnPresence(p)
	}
	if err := c.eng.Ingest(ctx, p); err != nil {
		c.log.Debug("engine ingest", "err", err)
	}
}

// isSelf reports whether from is us: our own presence reflected by the
// server, or our occupant in a room we joined.
func (c *Conn) isSelf(from string) bool {
	c.mu.Lock()
	local := c.local
	c.mu.Unlock()
	if from == local {
		return true
	}
	for _, room := range c.cfg.Rooms {
		if from == room+"/"+c.cfg.Nick {
			return true
		}
	}
	return false
}

func (c *Conn) isRoom(bare string) bool {
	for _, room := range c.cfg.Rooms {
		if bare == room {
			return true
		}
	}
	return false
}

func (c *Conn) addContact(bare string) {
	c.mu.Lock()
	_, known := c.contacts[bare]
	c.contacts[bare] = struct{}{}
	c.mu.Unlock()
	if !known && c.cfg.OnContact != nil {
		c.cfg.OnContact(bare)
	}
}

func (c *Conn) removeContact(bare string) {
	c.mu.Lock()
	delete(c.contacts, bare)
	c.mu.Unlock()
}
