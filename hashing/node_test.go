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

// ParseQueryNode undoes QueryNode, and refuses nodes that name no key.
func TestParseQueryNode(t *testing.T) {
	for _, c := range []struct {
		scheme hashing.Scheme
		alg    hashing.Algorithm
		ver    string
		node   string
	}{
		{hashing.XEP0115, hashing.SHA1, "QgayPKawpkPSDYmwT/WM94uAlu0=", "http://code.google.com/p/exodus"},
		{hashing.XEP0115, hashing.SHA1, "QgayPKawpkPSDYmwT/WM94uAlu0=", "http://a.example/with#hash"},
		{hashing.XEP0390, hashing.SHA256, "kzBZbkqJ3ADrj7v08reD1qcWUwNGHaidNUgD7nHpiw8=", ""},
	} {
		k, err := hashing.ParseKey(c.scheme, c.alg, c.ver)
		if err != nil {
			t.Fatal(err)
		}
		got, node, err := hashing.ParseQueryNode(k.QueryNode(c.node))
		if err != nil || got != k || node != c.node {
			t.Errorf("%s: %v %q %v, want %v %q", k.QueryNode(c.node), got, node, err, k, c.node)
		}
	}
	for _, bad := range []string{"no-hash-sign", "urn:xmpp:caps#sha-256", "urn:xmpp:caps#md9.AAAA", "n#not-base64!", "n#"} {
		if _, _, err := hashing.ParseQueryNode(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
