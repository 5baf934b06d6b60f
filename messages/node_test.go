package messages

import (
	"testing"

	"github.com/capsengine/capsengine/hashing"
)

func TestQueryNode(t *testing.T) {
	k115, err := hashing.ParseKey(hashing.XEP0115, hashing.SHA1, "QgayPKawpkPSDYmwT/WM94uAlu0=")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := QueryNode(k115, "http://code.google.com/p/exodus"), "http://code.google.com/p/exodus#QgayPKawpkPSDYmwT/WM94uAlu0="; got != want {
		t.Errorf("XEP-0115: %q, want %q", got, want)
	}
	k390, err := hashing.ParseKey(hashing.XEP0390, hashing.SHA256, "kzBZbkqJ3ADrj7v08reD1qcWUwNGHaidNUgD7nHpiw8=")
	if err != nil {
		t.Fatal(err)
	}
	// XEP-0390 §4.3: the caps node plays no part.
	if got, want := QueryNode(k390, "ignored"), "urn:xmpp:caps#sha-256.kzBZbkqJ3ADrj7v08reD1qcWUwNGHaidNUgD7nHpiw8="; got != want {
		t.Errorf("XEP-0390: %q, want %q", got, want)
	}
}
