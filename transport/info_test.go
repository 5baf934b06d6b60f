package transport_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/capsengine/capsengine"
	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/transport"
)

func TestParseIdentity(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     hashing.Identity
		ok       bool
	}{
		{"full", "client/bot/capsengine", hashing.Identity{Category: "client", Type: "bot", Name: "capsengine"}, true},
		{"no name", "component/generic", hashing.Identity{Category: "component", Type: "generic"}, true},
		{"empty name", "client/bot/", hashing.Identity{Category: "client", Type: "bot"}, true},
		{"name with slash and spaces", "client/pc/Caps / Crawler 2", hashing.Identity{Category: "client", Type: "pc", Name: "Caps / Crawler 2"}, true},
		{"name with markup", "client/bot/<&>", hashing.Identity{Category: "client", Type: "bot", Name: "<&>"}, true},
		{"no type", "client", hashing.Identity{}, false},
		{"empty", "", hashing.Identity{}, false},
		{"empty category", "/bot/x", hashing.Identity{}, false},
		{"empty type", "client//x", hashing.Identity{}, false},
		{"space in type", "client/b ot/x", hashing.Identity{}, false},
		{"control in name", "client/bot/a\x00b", hashing.Identity{}, false},
		{"C1 control in name", "client/bot/a\u0085b", hashing.Identity{}, false},
		{"invalid UTF-8", "client/bot/\xff", hashing.Identity{}, false},
		{"non-character", "client/bot/\uffff", hashing.Identity{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := transport.ParseIdentity(tc.in)
			if !tc.ok {
				var ve *transport.ValueError
				if !errors.As(err, &ve) || ve.What != "identity" || ve.Value != tc.in || ve.Reason == "" {
					t.Errorf("ParseIdentity(%q) = %+v, %v; want a *ValueError", tc.in, got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("ParseIdentity(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestCheckNode(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		ok       bool
	}{
		{"https", "https://github.com/capsengine/capsengine", true},
		{"urn", "urn:example:bot", true},
		{"host only", "http://example.org", true},
		{"empty", "", false},
		{"relative", "capsengine", false},
		{"scheme only", "https:", false},
		{"fragment", "https://example.org/bot#x", false},
		{"space", "https://example.org/my bot", false},
		{"control", "https://example.org/\x01", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := transport.CheckNode(tc.in)
			var ve *transport.ValueError
			switch {
			case tc.ok && err != nil:
				t.Errorf("CheckNode(%q) = %v, want nil", tc.in, err)
			case !tc.ok && (!errors.As(err, &ve) || ve.What != "node"):
				t.Errorf("CheckNode(%q) = %v, want a *ValueError", tc.in, err)
			}
		})
	}
}

// FuzzParseIdentity: ParseIdentity never panics, what it accepts writes
// back with FormatIdentity and reads the same again, and it hashes.
func FuzzParseIdentity(f *testing.F) {
	for _, s := range []string{"client/bot/capsengine", "a/b", "a/b/", "a/b/c/d", "/", "a//", "client/bot/\xff", "x/y/<&'\">"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := transport.ParseIdentity(s)
		if err != nil {
			return
		}
		again, err := transport.ParseIdentity(transport.FormatIdentity(id))
		if err != nil || again != id {
			t.Fatalf("%q: parsed %+v, formatted %q, parsed again %+v, %v", s, id, transport.FormatIdentity(id), again, err)
		}
		info := transport.LocalInfo("", false)
		info.Identities = []hashing.Identity{id}
		if _, err := hashing.Ver(hashing.SHA1, info); err != nil {
			t.Fatalf("%q: an accepted identity does not hash: %v", s, err)
		}
	})
}

// TestPeerUnreachable: the errors a server sends for an entity it could not
// deliver to, and our own lost session, tell the engine the peer was not
// reached; the peer's own refusals do not.
func TestPeerUnreachable(t *testing.T) {
	var u capsengine.Unreachable
	for cond, want := range map[string]bool{
		"service-unavailable": true, "recipient-unavailable": true,
		"remote-server-not-found": true, "remote-server-timeout": true,
		"item-not-found": false, "feature-not-implemented": false, "forbidden": false,
	} {
		err := fmt.Errorf("query: %w", &transport.StanzaError{Type: "cancel", Condition: cond})
		if got := errors.As(err, &u) && u.Unreachable(); got != want {
			t.Errorf("%s: unreachable %v, want %v", cond, got, want)
		}
	}
	if err := fmt.Errorf("query: %w", transport.ErrDisconnected); !errors.As(err, &u) || !u.Unreachable() {
		t.Error("ErrDisconnected does not say the peer was not reached")
	}
	if !errors.Is(fmt.Errorf("x: %w", transport.ErrDisconnected), transport.ErrDisconnected) {
		t.Error("ErrDisconnected no longer matches itself")
	}
}
