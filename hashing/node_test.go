package hashing_test

import (
	"testing"

	"github.com/capsengine/capsengine/hashing"
)

func TestQueryNode(t *testing.T) {
	k115, err := hashing.ParseKey(hashing.XEP0115, hashing.SHA1, "QgayPKawpkPSDYmwT/WM94uAlu0=")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := k115.QueryNode("http://code.google.com/p/exodus"), "http://code.google.com/p/exodus#QgayPKawpkPSDYmwT/WM94uAlu0="; got != want {
		t.Errorf("XEP-0115: %q, want %q", got, want)
	}
	k390, err := hashing.ParseKey(hashing.XEP0390, hashing.SHA256, "kzBZbkqJ3ADrj7v08reD1qcWUwNGHaidNUgD7nHpiw8=")
	if err != nil {
		t.Fatal(err)
	}
	// XEP-0390 §4.3: the caps node plays no part.
	if got, want := k390.QueryNode("ignored"), "urn:xmpp:caps#sha-256.kzBZbkqJ3ADrj7v08reD1qcWUwNGHaidNUgD7nHpiw8="; got != want {
		t.Errorf("XEP-0390: %q, want %q", got, want)
	}
}

// The deciding key: the preferred XEP-0390 hash, whatever the order, else
// the first.
func TestDeciding(t *testing.T) {
	mk := func(s hashing.Scheme, a hashing.Algorithm) hashing.Key {
		k, err := hashing.NewKey(s, a, make([]byte, a.Size()))
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	k115 := mk(hashing.XEP0115, hashing.SHA1)
	s512 := mk(hashing.XEP0390, hashing.SHA512)
	s256 := mk(hashing.XEP0390, hashing.SHA256)
	for _, tc := range []struct {
		ks   []hashing.Key
		want int
	}{
		{nil, -1},
		{[]hashing.Key{k115}, 0},
		{[]hashing.Key{k115, s512}, 1},
		{[]hashing.Key{k115, s512, s256}, 2},
		{[]hashing.Key{s256, k115}, 0},
	} {
		if got := hashing.Deciding(tc.ks); got != tc.want {
			t.Errorf("Deciding(%v) = %d, want %d", tc.ks, got, tc.want)
		}
	}
}
