package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"reflect"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/capsengine/capsengine/hashing"
)

func entryCases(tb testing.TB) []struct {
	name string
	e    *Entry
} {
	full := testInfo(1)
	return []struct {
		name string
		e    *Entry
	}{
		{"zero", &Entry{}},
		{"minimal", &Entry{Info: hashing.Info{Features: []string{"a"}}, Method: hashing.Strict}},
		{"typical", &Entry{Info: testInfo(2), Method: hashing.Strict, Nodes: []string{"http://psi-im.org"},
			FirstSeen: testTime, LastSeen: testTime.Add(time.Hour)}},
		{"form", &Entry{Info: full, Method: hashing.AsSentDuplicates, Nodes: []string{"a", "b"}, LastSeen: testTime}},
		{"unicode-and-empties", &Entry{Method: hashing.Escaped, FirstSeen: time.Unix(0, 0).UTC(), Info: hashing.Info{
			Node:       "http://tkabber.jabber.ru/#ЖЖ",
			Identities: []hashing.Identity{{Category: "client", Type: "pc", Lang: "ru", Name: "Ткаббер"}, {}},
			Features:   []string{"", "x<y&z>"},
			Forms:      []hashing.Form{{}, {Fields: []hashing.Field{{}, {Var: "v", Values: []string{"", "1"}}}}},
		}}},
		{"before-epoch", &Entry{FirstSeen: time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC), LastSeen: time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)}},
	}
}

func TestEntryRoundTrip(t *testing.T) {
	for _, tc := range entryCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			b := AppendEntry(nil, tc.e)
			if n := encodedSize(tc.e); len(b) > n {
				t.Errorf("encoding of %d bytes, encodedSize said at most %d", len(b), n)
			}
			got, err := DecodeEntry(b)
			if err != nil {
				t.Fatalf("DecodeEntry: %v", err)
			}
			if !reflect.DeepEqual(got, tc.e) {
				t.Errorf("got %+v, want %+v", got, tc.e)
			}
			if again := AppendEntry(nil, got); !bytes.Equal(again, b) {
				t.Errorf("re-encoding differs:\n got %x\nwant %x", again, b)
			}
			// Appending keeps the prefix.
			if pre := AppendEntry([]byte("pre"), tc.e); !bytes.Equal(pre[3:], b) {
				t.Errorf("AppendEntry with a prefix wrote %x", pre)
			}
		})
	}
}

func TestEntryTypicalSize(t *testing.T) {
	e := &Entry{Info: testInfo(2), Method: hashing.Strict, Nodes: []string{"http://psi-im.org"}, FirstSeen: testTime, LastSeen: testTime}
	n := len(AppendEntry(nil, e))
	// 17 features of ~25 bytes, an identity, two nodes' worth of metadata:
	// the encoding adds a byte or two per string and nothing else.
	if n > 520 {
		t.Errorf("typical entry encodes to %d bytes", n)
	}
	t.Logf("typical entry: %d bytes", n)
}

func TestDecodeEntryRejectsDamage(t *testing.T) {
	for _, tc := range entryCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			b := AppendEntry(nil, tc.e)
			for n := 0; n < len(b); n++ {
				if _, err := DecodeEntry(b[:n]); !errors.Is(err, ErrCorrupt) {
					t.Fatalf("truncated to %d bytes: err %v, want ErrCorrupt", n, err)
				}
			}
			if _, err := DecodeEntry(append(b[:len(b):len(b)], 0)); !errors.Is(err, ErrCorrupt) {
				t.Errorf("trailing byte: err %v, want ErrCorrupt", err)
			}
			for i := range b {
				for bit := range 8 {
					c := bytes.Clone(b)
					c[i] ^= 1 << bit
					if _, err := DecodeEntry(c); err == nil {
						t.Fatalf("flipping bit %d of byte %d went unnoticed", bit, i)
					}
				}
			}
		})
	}
}

// reseal replaces b's checksum, so a test can reach the checks behind it.
func reseal(body []byte) []byte {
	return binary.LittleEndian.AppendUint32(bytes.Clone(body), crc32.Checksum(body, castagnoli))
}

func TestDecodeEntryStructure(t *testing.T) {
	good := AppendEntry(nil, &Entry{Info: hashing.Info{Features: []string{"a"}}})
	body := good[:len(good)-crcSize]
	tests := []struct {
		name string
		body []byte
		want error
	}{
		{"version-2", append([]byte{2}, body[1:]...), ErrFormat},
		{"unknown-flag", append([]byte{1, 0, 0x80}, body[3:]...), ErrCorrupt},
		{"non-minimal-varint", []byte{1, 0, 0, 0x80, 0x00, 0, 0, 0, 0, 0}, ErrCorrupt},
		{"count-beyond-input", []byte{1, 0, 0, 0, 0, 0, 0x7f, 0}, ErrCorrupt},
		{"string-beyond-input", []byte{1, 0, 0, 0, 9, 'a', 0, 0, 0}, ErrCorrupt},
		{"huge-count", []byte{1, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, ErrCorrupt},
		{"varint-overflow", []byte{1, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}, ErrCorrupt},
		{"nanoseconds-out-of-range", []byte{1, 0, flagFirstSeen, 2, 0x80, 0x94, 0xeb, 0xdc, 0x03, 0, 0, 0, 0, 0, 0}, ErrCorrupt},
		{"trailing-inside-checksum", append(bytes.Clone(body), 0), ErrCorrupt},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := DecodeEntry(reseal(tc.body)); !errors.Is(err, tc.want) {
				t.Errorf("err %v, want %v", err, tc.want)
			}
		})
	}
}

func TestKeyEncoding(t *testing.T) {
	for i := range 4 {
		k, _ := testEntry(t, i)
		kk := appendKey(nil, k)
		if want := 3 + k.Alg.Size(); len(kk) != want {
			t.Errorf("%s: key of %d bytes, want %d", k, len(kk), want)
		}
		got, err := decodeKey(kk)
		if err != nil || got != k {
			t.Errorf("decodeKey(%x) = %v, %v; want %v", kk, got, err, k)
		}
	}
	for _, bad := range [][]byte{nil, {1}, {1, 1, 2}, {0, 1, 2, 3}, {1, 9, 2, 0}, {1, 1, 2, 1, 2, 3}, {1, 2, 2, 1}} {
		if _, err := decodeKey(bad); !errors.Is(err, ErrCorrupt) {
			t.Errorf("decodeKey(%x): err %v, want ErrCorrupt", bad, err)
		}
	}
}

func TestMerge(t *testing.T) {
	nodes := make([]string, 2, 8) // spare capacity must not be written
	nodes[0], nodes[1] = "a", "b"
	old := &Entry{Info: testInfo(2), Nodes: nodes, FirstSeen: testTime, LastSeen: testTime}
	later := &Entry{Nodes: []string{"b", "c"}, FirstSeen: testTime.Add(-time.Hour), LastSeen: testTime.Add(time.Hour)}
	got := merge(old, later)
	if want := []string{"a", "b", "c"}; !reflect.DeepEqual(got.Nodes, want) {
		t.Errorf("nodes %q, want %q", got.Nodes, want)
	}
	if !got.FirstSeen.Equal(later.FirstSeen) || !got.LastSeen.Equal(later.LastSeen) {
		t.Errorf("seen %v..%v, want %v..%v", got.FirstSeen, got.LastSeen, later.FirstSeen, later.LastSeen)
	}
	if len(old.Nodes) != 2 || nodes[:3][2] != "" {
		t.Errorf("merge modified its input: %q", nodes[:3])
	}
	many := &Entry{}
	for i := range 40 {
		many = merge(many, &Entry{Nodes: []string{string(rune('A' + i))}})
	}
	if len(many.Nodes) != MaxNodes {
		t.Errorf("kept %d nodes, want %d", len(many.Nodes), MaxNodes)
	}
}

// FuzzDecodeEntry checks that no input makes DecodeEntry panic, and that
// whatever decodes re-encodes to the same bytes. Each input is also tried
// with a valid checksum, so the fuzzer reaches the parser behind it.
func FuzzDecodeEntry(f *testing.F) {
	for _, tc := range entryCases(f) {
		b := AppendEntry(nil, tc.e)
		f.Add(b)
		f.Add(b[:len(b)-crcSize])
	}
	f.Add([]byte{})
	f.Add([]byte{1, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, in := range [][]byte{b, reseal(b)} {
			e, err := DecodeEntry(in)
			if err != nil {
				if e != nil {
					t.Fatalf("DecodeEntry returned an entry and %v", err)
				}
				if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrFormat) {
					t.Fatalf("error %v wraps neither ErrCorrupt nor ErrFormat", err)
				}
				continue
			}
			if again := AppendEntry(nil, e); !bytes.Equal(again, in) {
				t.Fatalf("decoded %x, re-encoded %x", in, again)
			}
		}
	})
}

func TestEntryMerger(t *testing.T) {
	at := func(h int) time.Time { return testTime.Add(time.Duration(h) * time.Hour) }
	op := func(node string, h int) []byte {
		return AppendEntry(nil, &Entry{Info: testInfo(2), Method: hashing.Strict, Nodes: []string{node}, FirstSeen: at(h), LastSeen: at(h)})
	}
	a, b, c := op("a", 0), op("b", 1), op("c", 2)
	bad := []byte("damaged")
	finish := func(m pebble.ValueMerger) *Entry {
		t.Helper()
		v, _, err := m.Finish(true)
		if err != nil {
			t.Fatal(err)
		}
		e, err := DecodeEntry(v)
		if err != nil {
			t.Fatalf("merged value: %v", err)
		}
		return e
	}
	want := func(e *Entry, nodes string, first, last int) {
		t.Helper()
		if fmt.Sprint(e.Nodes) != nodes || !e.FirstSeen.Equal(at(first)) || !e.LastSeen.Equal(at(last)) {
			t.Errorf("merged %v %v..%v, want %s %v..%v", e.Nodes, e.FirstSeen, e.LastSeen, nodes, at(first), at(last))
		}
	}

	// Forward iteration: newest first, then older operands.
	m, _ := entryMerger.Merge(nil, c)
	m.MergeOlder(b)
	m.MergeOlder(a)
	want(finish(m), "[a b c]", 0, 2)

	// Reverse iteration: oldest first, then newer operands.
	m, _ = entryMerger.Merge(nil, a)
	m.MergeNewer(b)
	m.MergeNewer(c)
	want(finish(m), "[a b c]", 0, 2)

	// A compaction may fold a subset first: associative.
	m, _ = entryMerger.Merge(nil, b)
	m.MergeNewer(c)
	bc, _, _ := m.Finish(false)
	m, _ = entryMerger.Merge(nil, bc)
	m.MergeOlder(a)
	want(finish(m), "[a b c]", 0, 2)

	// A single operand comes back as written.
	m, _ = entryMerger.Merge(nil, b)
	if v, _, _ := m.Finish(true); !bytes.Equal(v, b) {
		t.Error("a single operand was rewritten")
	}

	// Damaged operands are dropped, whichever side they are on.
	m, _ = entryMerger.Merge(nil, bad)
	m.MergeNewer(b)
	m.MergeOlder(bad)
	m.MergeNewer(bad)
	want(finish(m), "[b]", 1, 1)
	m, _ = entryMerger.Merge(nil, bad)
	if v, _, _ := m.Finish(true); !bytes.Equal(v, bad) {
		t.Error("all operands damaged: want the bytes back, for the reader to reject")
	}
	m, _ = entryMerger.Merge(nil, bad)
	m.MergeNewer([]byte("newer damage"))
	if v, _, _ := m.Finish(true); string(v) != "newer damage" {
		t.Errorf("all operands damaged: got %q, want the newest", v)
	}
}

func BenchmarkAppendEntry(b *testing.B) {
	e := &Entry{Info: testInfo(1), Method: hashing.Strict, Nodes: []string{"http://psi-im.org"}, FirstSeen: testTime, LastSeen: testTime}
	b.ReportAllocs()
	for b.Loop() {
		AppendEntry(nil, e)
	}
}

func BenchmarkDecodeEntry(b *testing.B) {
	v := AppendEntry(nil, &Entry{Info: testInfo(1), Method: hashing.Strict, Nodes: []string{"http://psi-im.org"}, FirstSeen: testTime, LastSeen: testTime})
	b.ReportAllocs()
	for b.Loop() {
		DecodeEntry(v)
	}
}
