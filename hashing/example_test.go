package hashing_test

import (
	"fmt"

	"github.com/capsengine/capsengine/hashing"
)

func Example() {
	info := &hashing.Info{
		Identities: []hashing.Identity{{Category: "client", Type: "pc", Name: "Exodus 0.9.1"}},
		Features: []string{
			"http://jabber.org/protocol/caps",
			"http://jabber.org/protocol/disco#info",
			"http://jabber.org/protocol/disco#items",
			"http://jabber.org/protocol/muc",
		},
	}
	ver, _ := hashing.Ver(hashing.SHA1, info)
	fmt.Println("announce:", ver)

	// A peer announced this ver; check its disco#info answer before
	// believing it.
	key, _ := hashing.ParseKey(hashing.XEP0115, hashing.SHA1, "QgayPKawpkPSDYmwT/WM94uAlu0=")
	how, err := hashing.Verify(key, info, hashing.Options{})
	fmt.Println("verified:", how, err)
	// Output:
	// announce: QgayPKawpkPSDYmwT/WM94uAlu0=
	// verified: strict <nil>
}
