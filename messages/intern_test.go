package messages

import (
	"fmt"
	"strings"
	"testing"
	"unsafe"
)

func TestInternTableBounded(t *testing.T) {
	tab := internTable{m: make(map[string]string), max: 3}
	for i := range 10 {
		name := fmt.Sprintf("urn:example:%d", i)
		s, ok := tab.intern([]byte(name))
		if ok != (i < 3) {
			t.Fatalf("%s: shared %v with %d entries of 3", name, ok, i)
		}
		if ok && s != name {
			t.Fatalf("%s: got %q", name, s)
		}
	}
	if len(tab.m) != 3 {
		t.Fatalf("%d entries, bound 3", len(tab.m))
	}
	// Known names are still shared once the table is full.
	if s, ok := tab.intern([]byte("urn:example:1")); !ok || s != "urn:example:1" {
		t.Fatalf("a known name was not shared: %q %v", s, ok)
	}
	if _, ok := tab.intern([]byte(strings.Repeat("x", maxInterned+1))); ok {
		t.Fatal("a name past maxInterned was shared")
	}
}

// Two answers naming the same feature share its bytes, and a decoder's
// later answers do not change an earlier Info.
func TestDecodedFeaturesShared(t *testing.T) {
	var d Decoder
	doc := func(feat string) []byte {
		return []byte(`<query xmlns='http://jabber.org/protocol/disco#info'><identity category='client' type='pc'/>` +
			`<feature var='` + feat + `'/><feature var='` + strings.Repeat("y", maxInterned+5) + `'/></query>`)
	}
	a, err := d.DecodeDiscoInfo(doc("urn:example:shared"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := d.DecodeDiscoInfo(doc("urn:example:shared"))
	if err != nil {
		t.Fatal(err)
	}
	if unsafe.StringData(a.Features[0]) != unsafe.StringData(b.Features[0]) {
		t.Fatal("the same feature name decoded twice is not shared")
	}
	c, err := d.DecodeDiscoInfo(doc("urn:example:other"))
	if err != nil {
		t.Fatal(err)
	}
	if a.Features[0] != "urn:example:shared" || c.Features[0] != "urn:example:other" || a.Features[1] != strings.Repeat("y", maxInterned+5) {
		t.Fatalf("features: %q, %q", a.Features, c.Features)
	}
}
