package transport

import (
	"errors"
	"slices"
	"testing"
)

func TestParsePrivileges(t *testing.T) {
	for _, tc := range []struct {
		name, stanza string
		want         Privileges
		err          error
	}{{
		// What Prosody 0.12's mod_privilege sends.
		name: "prosody v2",
		stanza: `<message xmlns='jabber:component:accept' from='localhost' to='caps.localhost'>` +
			`<privilege xmlns='urn:xmpp:privilege:2'><perm access='presence' type='managed_entity'/>` +
			`<perm access='iq'><namespace ns='http://jabber.org/protocol/pubsub' type='set'/></perm></privilege></message>`,
		want: Privileges{Namespace: NSPrivilege2, Server: "localhost", Presence: "managed_entity",
			IQ: []string{"http://jabber.org/protocol/pubsub"}},
	}, {
		// What ejabberd 23.01 sends: version 1, every permission named,
		// "none" where not granted.
		name: "ejabberd v1",
		stanza: `<message from='localhost' to='caps.localhost'><privilege xmlns='urn:xmpp:privilege:1'>` +
			`<perm access='message' type='none'/><perm access='roster' type='get'/>` +
			`<perm access='presence' type='roster'/></privilege></message>`,
		want: Privileges{Namespace: NSPrivilege1, Server: "localhost", Presence: "roster", Roster: "get"},
	}, {
		name:   "nothing granted",
		stanza: `<message from='localhost'><privilege xmlns='urn:xmpp:privilege:2'/></message>`,
		want:   Privileges{Namespace: NSPrivilege2, Server: "localhost"},
	}, {
		name:   "unknown value",
		stanza: `<message from='localhost'><privilege xmlns='urn:xmpp:privilege:2'><perm access='presence' type='everything'/></privilege></message>`,
		want:   Privileges{Namespace: NSPrivilege2, Server: "localhost"},
	}, {
		name:   "other namespace",
		stanza: `<message from='localhost'><privilege xmlns='urn:example:privilege'><perm access='presence' type='roster'/></privilege></message>`,
		err:    ErrNotPrivilege,
	}, {
		name:   "a chat message",
		stanza: `<message from='a@localhost/r'><body>hi</body></message>`,
		err:    ErrNotPrivilege,
	}, {
		name:   "truncated",
		stanza: `<message from='localhost'><privilege xmlns='urn:xmpp:privilege:2'><perm`,
		err:    errPrivilege,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParsePrivileges([]byte(tc.stanza))
			if !errors.Is(err, tc.err) {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
			if err == nil && (got.Namespace != tc.want.Namespace || got.Server != tc.want.Server ||
				got.Presence != tc.want.Presence || got.Roster != tc.want.Roster ||
				got.Message != tc.want.Message || !slices.Equal(got.IQ, tc.want.IQ)) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
	v1 := Privileges{Namespace: NSPrivilege1, Presence: "managed_entity"}
	v2 := Privileges{Namespace: NSPrivilege2, Presence: "roster"}
	if !v1.SeesPresences() || v1.SendsOnlineUsers() || !v2.SendsOnlineUsers() || (Privileges{Namespace: NSPrivilege2}).SeesPresences() {
		t.Error("SeesPresences/SendsOnlineUsers")
	}
}

func FuzzParsePrivileges(f *testing.F) {
	f.Add([]byte(`<message from='localhost'><privilege xmlns='urn:xmpp:privilege:2'><perm access='presence' type='roster'/><perm access='iq'><namespace ns='a' type='get'/></perm></privilege></message>`))
	f.Add([]byte(`<message><privilege xmlns='urn:xmpp:privilege:1'/></message>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePrivileges(b)
		if err != nil {
			return
		}
		if p.Namespace != NSPrivilege1 && p.Namespace != NSPrivilege2 {
			t.Fatalf("namespace %q accepted", p.Namespace)
		}
		if len(p.IQ) > maxPerms {
			t.Fatalf("%d IQ namespaces kept", len(p.IQ))
		}
		_ = p.String()
	})
}
