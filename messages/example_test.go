package messages_test

import (
	"fmt"

	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/messages"
)

func Example() {
	stanza := []byte(`<presence xmlns='jabber:client' from='juliet@capulet.lit/balcony'>
  <c xmlns='http://jabber.org/protocol/caps' hash='sha-1'
     node='http://psi-im.org' ver='q07IKJEyjvHSyhy//CH0CxmKi8w='/>
</presence>`)

	// One Decoder and one view per goroutine, reused for every stanza.
	var d messages.Decoder
	var v messages.PresenceView
	keys := make([]hashing.Key, 0, 4)

	if err := d.DecodePresence(stanza, &v); err != nil {
		fmt.Println("drop:", err)
		return
	}
	keys, err := v.AppendKeys(keys[:0])
	fmt.Printf("%s announces %v (err %v)\n", v.From, keys, err)
	// Output: juliet@capulet.lit/balcony announces [xep0115/sha-1/q07IKJEyjvHSyhy//CH0CxmKi8w=] (err <nil>)
}

func ExampleParseDiscoInfo() {
	answer := []byte(`<iq xmlns='jabber:client' type='result' xml:lang='en'>
  <query xmlns='http://jabber.org/protocol/disco#info' node='http://code.google.com/p/exodus#QgayPKawpkPSDYmwT/WM94uAlu0='>
    <identity category='client' name='Exodus 0.9.1' type='pc'/>
    <feature var='http://jabber.org/protocol/caps'/>
    <feature var='http://jabber.org/protocol/disco#info'/>
    <feature var='http://jabber.org/protocol/disco#items'/>
    <feature var='http://jabber.org/protocol/muc'/>
  </query>
</iq>`)
	in, err := messages.ParseDiscoInfo(answer)
	if err != nil {
		fmt.Println(err)
		return
	}
	ver, err := hashing.Ver(hashing.SHA1, in)
	fmt.Println(in.Identities[0].Name, ver, err)
	// Output: Exodus 0.9.1 QgayPKawpkPSDYmwT/WM94uAlu0= <nil>
}

func ExampleAppendPresence() {
	p := &messages.Presence{
		From: "romeo@montague.lit/orchard",
		Caps: &messages.Caps{Hash: "sha-1", Node: "https://capsengine.example", Ver: "QgayPKawpkPSDYmwT/WM94uAlu0="},
	}
	fmt.Println(string(messages.AppendPresence(nil, p)))
	// Output: <presence from='romeo@montague.lit/orchard'><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='https://capsengine.example' ver='QgayPKawpkPSDYmwT/WM94uAlu0='/></presence>
}
