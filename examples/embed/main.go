// Command embed is the smallest program that embeds the engine: an
// in-memory store, a Querier that answers from a map, one presence. The
// README quotes its binary size.
package main

import (
	"context"
	"fmt"
	"log"

	"github.com/capsengine/capsengine"
	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/messages"
)

func main() {
	info := &hashing.Info{
		Identities: []hashing.Identity{{Category: "client", Type: "pc", Name: "Example"}},
		Features:   []string{"http://jabber.org/protocol/caps", "urn:xmpp:jingle:1"},
	}
	ver, err := hashing.Ver(hashing.SHA1, info)
	if err != nil {
		log.Fatal(err)
	}
	const node = "https://example.org/client"
	q := capsengine.QuerierFunc(func(_ context.Context, jid, n string) (*hashing.Info, error) {
		if n != hashing.CapsNode(node, ver) {
			return nil, fmt.Errorf("no such node %q", n)
		}
		return info, nil
	})
	ctx := context.Background()
	eng, err := capsengine.Open(ctx, capsengine.Config{InMemory: true, Querier: q})
	if err != nil {
		log.Fatal(err)
	}
	defer eng.Close(ctx)
	jid := "juliet@example.org/balcony"
	p := &messages.Presence{From: jid, Caps: &messages.Caps{Hash: "sha-1", Node: node, Ver: ver}}
	if err := eng.Ingest(ctx, p); err != nil {
		log.Fatal(err)
	}
	if _, err := eng.Wait(ctx, jid); err != nil {
		log.Fatal(err)
	}
	ok, err := eng.Supports(jid, "urn:xmpp:jingle:1")
	fmt.Println("jingle:", ok, err)
}
