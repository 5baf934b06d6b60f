package hashing_test

import (
	"testing"

	"github.com/capsengine/capsengine/hashing"
)

func TestProof(t *testing.T) {
	in := &hashing.Info{
		Identities: []hashing.Identity{{Category: "client", Type: "pc", Name: "Exodus 0.9.1"}},
		Features:   []string{"http://jabber.org/protocol/caps", "http://jabber.org/protocol/disco#info"},
	}
	k, err := hashing.Compute(hashing.XEP0115, hashing.SHA1, in)
	if err != nil {
		t.Fatal(err)
	}
	p, err := hashing.Prove(k, in, hashing.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := p.For(k, in, hashing.Options{}); !ok || m != hashing.Strict {
		t.Fatalf("For(own key and info) = %v, %v; want strict, true", m, ok)
	}
	cp := *in // a store copies the Info struct: the slices are the same
	if _, ok := p.For(k, &cp, hashing.Options{}); !ok {
		t.Error("For(a copy of the Info struct) does not hold")
	}

	other := *in
	other.Features = append([]string(nil), in.Features...) // equal, not the same
	if _, ok := p.For(k, &other, hashing.Options{}); ok {
		t.Error("For(an equal hashing.Info with other slices) holds: a changed copy would pass unhashed")
	}
	short := *in
	short.Features = in.Features[:1]
	if _, ok := p.For(k, &short, hashing.Options{}); ok {
		t.Error("For(the same array, shorter) holds")
	}
	k2, err := hashing.Compute(hashing.XEP0115, hashing.SHA256, in)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p.For(k2, in, hashing.Options{}); ok {
		t.Error("For(another key) holds")
	}
	var zero hashing.Proof
	if _, ok := zero.For(k, in, hashing.Options{}); ok {
		t.Error("a zero hashing.Proof holds")
	}
	if _, err := hashing.Prove(k2, &short, hashing.Options{}); err == nil {
		t.Error("Prove of a wrong hashing.Info succeeded")
	}
}

// TestProofLenient: a Proof of a lenient method holds only under options
// that allow what the proving options did.
func TestProofLenient(t *testing.T) {
	in := decodeInfo(t, readVector(t, "xep0115-edge-duplicate-feature.xml"))
	k := mustKey(t, hashing.XEP0115, hashing.SHA1, "VGifDTtD2+BfRlyvJ6I+zF0/c80=")
	lenient := hashing.Options{DuplicateFeatures: true}
	p, err := hashing.Prove(k, in, lenient)
	if err != nil {
		t.Fatal(err)
	}
	if p.Method() != hashing.AsSentDuplicates {
		t.Fatalf("method %v, want %v", p.Method(), hashing.AsSentDuplicates)
	}
	if _, ok := p.For(k, in, hashing.Options{}); ok {
		t.Error("a duplicate-features proof holds under strict options")
	}
	if m, ok := p.For(k, in, lenient); !ok || m != hashing.AsSentDuplicates {
		t.Errorf("For under the proving options = %v, %v", m, ok)
	}
}
