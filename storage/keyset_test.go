package storage

import (
	"context"
	"encoding/binary"
	"errors"
	"testing"
)

// A user store's KeySet holds every key put before it was taken, says
// "absent" to nearly every other, survives its encoding, and takes keys
// added to it.
func TestUserKeys(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, nil, Config{CacheBytes: -1})
	waitBuilds(t, db, 1)
	const stored, absent = 500, 2000
	for i := range stored {
		k, e := testEntry(t, i)
		if err := db.Put(ctx, k, e); err != nil {
			t.Fatal(err)
		}
	}
	s, ok := db.UserKeys()
	if !ok {
		t.Fatal("no key set once the filter is built")
	}
	b, err := s.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseKeySet(b)
	if err != nil {
		t.Fatal(err)
	}
	for i := range stored {
		if k, _ := testEntry(t, i); !got.MayHave(k) {
			t.Fatalf("key %d, stored, reported absent", i)
		}
	}
	maybe := 0
	for i := stored; i < stored+absent; i++ {
		if k, _ := testEntry(t, i); got.MayHave(k) {
			maybe++
		}
	}
	// The filter is sized for at least 65,536 keys at 1%: with 500 in
	// it, a false "maybe" is rare.
	if maybe > absent/50 {
		t.Fatalf("%d of %d keys never stored reported as maybe held", maybe, absent)
	}
	k, _ := testEntry(t, stored+absent)
	got.Add(k)
	if !got.MayHave(k) {
		t.Fatal("an added key reported absent")
	}
	// The copy is the caller's: the store's own filter did not take k.
	if s2, _ := db.UserKeys(); s2.MayHave(k) && !s.MayHave(k) {
		t.Fatal("adding to a copy changed the store's filter")
	}
}

// A closed store has no key set to give.
func TestUserKeysClosed(t *testing.T) {
	db := openTest(t, nil, Config{CacheBytes: -1})
	if err := db.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, ok := db.UserKeys(); ok {
		t.Fatal("a key set from a closed store")
	}
}

// Headers that do not fit what follows, or ask for more than a store ever
// builds, are refused before anything is allocated.
func TestParseKeySetRefuses(t *testing.T) {
	hdr := func(m, k, bits uint64, words int) []byte {
		b := make([]byte, 24+8*words)
		binary.BigEndian.PutUint64(b[0:], m)
		binary.BigEndian.PutUint64(b[8:], k)
		binary.BigEndian.PutUint64(b[16:], bits)
		return b
	}
	for name, b := range map[string][]byte{
		"short":          {1, 2, 3},
		"zero bits":      hdr(0, 3, 0, 0),
		"zero k":         hdr(64, 0, 64, 1),
		"huge k":         hdr(64, 1<<40, 64, 1),
		"huge m":         hdr(1<<62, 3, 1<<62, 0),
		"length differs": hdr(128, 3, 1<<50, 2),
		"words missing":  hdr(128, 3, 128, 1),
		"words extra":    hdr(128, 3, 128, 3),
	} {
		if _, err := ParseKeySet(b); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
	}
	if _, err := ParseKeySet(hdr(128, 3, 128, 2)); err != nil {
		t.Fatalf("a well-formed empty set: %v", err)
	}
}

// FuzzParseKeySet: any bytes give a set or an error, never a panic, and a
// set that parses answers lookups.
func FuzzParseKeySet(f *testing.F) {
	f.Add([]byte{})
	db := openTest(f, nil, Config{CacheBytes: -1})
	waitBuilds(f, db, 1)
	if s, ok := db.UserKeys(); ok {
		b, _ := s.MarshalBinary()
		f.Add(b)
		f.Add(b[:len(b)-8])
	}
	k, _ := testEntry(f, 1)
	f.Fuzz(func(t *testing.T, b []byte) {
		set, err := ParseKeySet(b)
		if err != nil {
			return
		}
		set.MayHave(k)
		set.Add(k)
		if !set.MayHave(k) {
			t.Fatal("an added key reported absent")
		}
	})
}
