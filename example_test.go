package capsengine_test

import (
	"context"
	"fmt"

	"github.com/capsengine/capsengine"
	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/messages"
)

func Example() {
	ctx := context.Background()
	// What the peer answers when asked for its disco#info.
	psi := &hashing.Info{
		Identities: []hashing.Identity{{Category: "client", Type: "pc", Name: "Exodus 0.9.1"}},
		Features: []string{"http://jabber.org/protocol/caps", "http://jabber.org/protocol/disco#info",
			"http://jabber.org/protocol/disco#items", "http://jabber.org/protocol/muc"},
	}
	querier := capsengine.QuerierFunc(func(ctx context.Context, jid, node string) (*hashing.Info, error) {
		return psi, nil // a real host sends an IQ to jid for node
	})
	eng, err := capsengine.Open(ctx, capsengine.Config{InMemory: true, Querier: querier})
	if err != nil {
		panic(err)
	}
	defer eng.Close(ctx)

	stanza := []byte(`<presence from='juliet@capulet.lit/balcony'>
	  <c xmlns='http://jabber.org/protocol/caps' hash='sha-1'
	     node='http://code.google.com/p/exodus' ver='QgayPKawpkPSDYmwT/WM94uAlu0='/>
	</presence>`)
	if err := eng.IngestRaw(ctx, stanza); err != nil {
		panic(err)
	}
	info, err := eng.Wait(ctx, "juliet@capulet.lit/balcony")
	fmt.Println(info.Identities[0].Name, err)
	ok, _ := eng.Supports("juliet@capulet.lit/balcony", "http://jabber.org/protocol/muc")
	fmt.Println("muc:", ok)
	// Output:
	// Exodus 0.9.1 <nil>
	// muc: true
}

var _ = messages.KindCapsResolved
