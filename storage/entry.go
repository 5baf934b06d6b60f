package storage

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/capsengine/capsengine/hashing"
)

// Entry is what the store keeps for one key: the verified disco#info and
// what is known about who announced it.
//
// Entries returned by lookups are shared with the hot cache and other
// callers: treat them as read-only.
type Entry struct {
	// Info is the disco#info answer that hashes to the key.
	Info hashing.Info
	// Method records how Info was verified against the key.
	Method hashing.Method
	// Nodes lists the caps nodes (the node attribute of <c/>, e.g.
	// "http://psi-im.org") seen announcing the key, first seen first, at
	// most MaxNodes of them.
	Nodes []string
	// FirstSeen and LastSeen bound when the key was seen. They come back in
	// UTC without a monotonic clock reading; the zero time means unknown.
	FirstSeen, LastSeen time.Time
	// Proof, when it proves Info against the key put (hashing.Prove, for
	// this Info's slices), spares Put hashing Info again. It is not
	// stored: a decoded Entry has none.
	Proof hashing.Proof
}

const (
	// MaxNodes is the number of distinct announcing nodes an Entry keeps.
	MaxNodes = 16
	// MaxEntrySize bounds an encoded entry, in bytes. Put refuses larger
	// entries with ErrTooLarge; messages limits disco#info answers well
	// below this.
	MaxEntrySize = 1 << 20
)

// Value encoding, version 1. All integers are varints (binary.AppendUvarint,
// signed ones zig-zag), strings are a uvarint length and the bytes, lists a
// uvarint count and the items:
//
//	version   byte  (1)
//	method    byte  (hashing.Method)
//	flags     byte  (bit 0: FirstSeen set, bit 1: LastSeen set)
//	FirstSeen varint seconds, uvarint nanoseconds   (if flag 0)
//	LastSeen  varint seconds, uvarint nanoseconds   (if flag 1)
//	Nodes     list of string
//	Info.Node string
//	Identities list of (category, type, lang, name)
//	Features  list of string
//	Forms     list of (type, list of (var, type, list of value))
//	crc       4 bytes, little-endian CRC-32C of everything before it
//
// Decoding is strict: the checksum must match, varints must be minimal, no
// byte may follow the checksum. So every byte string decodes to at most one
// Entry and re-encodes to itself.
const (
	entryVersion = 1

	flagFirstSeen = 1 << 0
	flagLastSeen  = 1 << 1
	knownFlags    = flagFirstSeen | flagLastSeen

	crcSize = 4
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// AppendEntry appends the binary encoding of e to dst, growing it at most
// once.
func AppendEntry(dst []byte, e *Entry) []byte {
	dst = slices.Grow(dst, encodedSize(e))
	start := len(dst)
	var flags byte
	if !e.FirstSeen.IsZero() {
		flags |= flagFirstSeen
	}
	if !e.LastSeen.IsZero() {
		flags |= flagLastSeen
	}
	dst = append(dst, entryVersion, byte(e.Method), flags)
	if flags&flagFirstSeen != 0 {
		dst = appendTime(dst, e.FirstSeen)
	}
	if flags&flagLastSeen != 0 {
		dst = appendTime(dst, e.LastSeen)
	}
	dst = appendStrings(dst, e.Nodes)
	in := &e.Info
	dst = appendString(dst, in.Node)
	dst = binary.AppendUvarint(dst, uint64(len(in.Identities)))
	for i := range in.Identities {
		id := &in.Identities[i]
		dst = appendString(dst, id.Category)
		dst = appendString(dst, id.Type)
		dst = appendString(dst, id.Lang)
		dst = appendString(dst, id.Name)
	}
	dst = appendStrings(dst, in.Features)
	dst = binary.AppendUvarint(dst, uint64(len(in.Forms)))
	for i := range in.Forms {
		f := &in.Forms[i]
		dst = appendString(dst, f.Type)
		dst = binary.AppendUvarint(dst, uint64(len(f.Fields)))
		for j := range f.Fields {
			fld := &f.Fields[j]
			dst = appendString(dst, fld.Var)
			dst = appendString(dst, fld.Type)
			dst = appendStrings(dst, fld.Values)
		}
	}
	return binary.LittleEndian.AppendUint32(dst, crc32.Checksum(dst[start:], castagnoli))
}

// encodedSize bounds the length of e's encoding from above: every varint
// is counted at its longest.
func encodedSize(e *Entry) int {
	const v = binary.MaxVarintLen64
	str := func(s string) int { return v + len(s) }
	strs := func(ss []string) int {
		n := v
		for _, s := range ss {
			n += str(s)
		}
		return n
	}
	n := 3 + 4*v + strs(e.Nodes) + str(e.Info.Node) + v + strs(e.Info.Features) + v + crcSize
	for _, id := range e.Info.Identities {
		n += str(id.Category) + str(id.Type) + str(id.Lang) + str(id.Name)
	}
	for _, f := range e.Info.Forms {
		n += str(f.Type) + v
		for _, fld := range f.Fields {
			n += str(fld.Var) + str(fld.Type) + strs(fld.Values)
		}
	}
	return n
}

func appendTime(dst []byte, t time.Time) []byte {
	dst = binary.AppendVarint(dst, t.Unix())
	return binary.AppendUvarint(dst, uint64(t.Nanosecond()))
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendStrings(dst []byte, ss []string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(ss)))
	for _, s := range ss {
		dst = appendString(dst, s)
	}
	return dst
}

// DecodeEntry decodes an entry written by AppendEntry. It never panics: bytes
// that are truncated, corrupted, of an unknown version or not minimally
// encoded give an error wrapping ErrCorrupt (ErrFormat for an unknown
// version with a valid checksum).
//
// The strings of the result share one allocation holding the value's
// character data; b is not retained. Empty lists decode as nil.
func DecodeEntry(b []byte) (*Entry, error) {
	if len(b) < 3+2+1+1+crcSize {
		return nil, fmt.Errorf("%w: entry of %d bytes is too short", ErrCorrupt, len(b))
	}
	body := b[:len(b)-crcSize]
	if got, want := crc32.Checksum(body, castagnoli), binary.LittleEndian.Uint32(b[len(body):]); got != want {
		return nil, fmt.Errorf("%w: entry checksum %08x, want %08x", ErrCorrupt, got, want)
	}
	if body[0] != entryVersion {
		return nil, fmt.Errorf("%w: entry version %d", ErrFormat, body[0])
	}
	d := decoder{s: string(body), off: 3}
	e := &Entry{Method: hashing.Method(body[1])}
	flags := body[2]
	if flags&^knownFlags != 0 {
		return nil, fmt.Errorf("%w: entry flags %#x", ErrCorrupt, flags)
	}
	if flags&flagFirstSeen != 0 {
		e.FirstSeen = d.time()
	}
	if flags&flagLastSeen != 0 {
		e.LastSeen = d.time()
	}
	e.Nodes = d.strings()
	in := &e.Info
	in.Node = d.str()
	if n := d.count(4); n > 0 {
		in.Identities = make([]hashing.Identity, n)
		for i := range in.Identities {
			id := &in.Identities[i]
			id.Category, id.Type, id.Lang, id.Name = d.str(), d.str(), d.str(), d.str()
		}
	}
	in.Features = d.strings()
	if n := d.count(2); n > 0 {
		in.Forms = make([]hashing.Form, n)
		for i := range in.Forms {
			f := &in.Forms[i]
			f.Type = d.str()
			if n := d.count(3); n > 0 {
				f.Fields = make([]hashing.Field, n)
				for j := range f.Fields {
					fld := &f.Fields[j]
					fld.Var, fld.Type = d.str(), d.str()
					fld.Values = d.strings()
				}
			}
		}
	}
	if d.err != nil {
		return nil, d.err
	}
	if d.off != len(d.s) {
		return nil, fmt.Errorf("%w: %d bytes after the entry", ErrCorrupt, len(d.s)-d.off)
	}
	return e, nil
}

// decoder reads varints and strings from s. After the first error every
// read returns a zero value, so callers check err once at the end; counts
// are capped by the bytes left, which bounds every allocation by the input
// size.
type decoder struct {
	s   string
	off int
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: bad %s at byte %d", ErrCorrupt, what, d.off)
	}
}

// uvarint decodes a minimal unsigned varint.
func (d *decoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	var v uint64
	for i := 0; i < binary.MaxVarintLen64; i++ {
		if d.off+i >= len(d.s) {
			break
		}
		c := d.s[d.off+i]
		if i == binary.MaxVarintLen64-1 && c > 1 {
			break // overflow
		}
		v |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			if c == 0 && i > 0 {
				break // not minimal
			}
			d.off += i + 1
			return v
		}
	}
	d.fail(what)
	return 0
}

// count reads a list length; every item takes at least min bytes.
func (d *decoder) count(min int) int {
	n := d.uvarint("count")
	if d.err != nil {
		return 0
	}
	if n > uint64((len(d.s)-d.off)/min) {
		d.fail("count")
		return 0
	}
	return int(n)
}

func (d *decoder) str() string {
	n := d.uvarint("string length")
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.s)-d.off) {
		d.fail("string length")
		return ""
	}
	s := d.s[d.off : d.off+int(n)]
	d.off += int(n)
	return s
}

func (d *decoder) strings() []string {
	n := d.count(1)
	if n == 0 {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = d.str()
	}
	return out
}

func (d *decoder) time() time.Time {
	u := d.uvarint("time")
	// Zig-zag, as binary.AppendVarint writes it.
	sec := int64(u >> 1)
	if u&1 != 0 {
		sec = ^sec
	}
	nsec := d.uvarint("time")
	if d.err != nil {
		return time.Time{}
	}
	if nsec >= 1e9 {
		d.fail("nanoseconds")
		return time.Time{}
	}
	t := time.Unix(sec, int64(nsec)).UTC()
	if t.IsZero() {
		// The zero time is encoded by a clear flag, never by value.
		d.fail("time")
	}
	return t
}

// merge folds what a later Put learnt about the same key into e and returns
// the result; e itself is not modified. Info and Method stay those of the
// first verified answer: answers to one key differ only in order.
func merge(e, later *Entry) *Entry {
	out := *e
	out.Nodes = slices.Clip(e.Nodes) // appending must never write into e's array
	for _, n := range later.Nodes {
		if len(out.Nodes) >= MaxNodes {
			break
		}
		if !slices.Contains(out.Nodes, n) {
			out.Nodes = append(out.Nodes, n)
		}
	}
	if !later.FirstSeen.IsZero() && (out.FirstSeen.IsZero() || later.FirstSeen.Before(out.FirstSeen)) {
		out.FirstSeen = later.FirstSeen
	}
	if later.LastSeen.After(out.LastSeen) {
		out.LastSeen = later.LastSeen
	}
	return &out
}

// normalize prepares an entry for storing: distinct nodes, at most
// MaxNodes, times in UTC without a monotonic reading.
func normalize(e *Entry) {
	if len(e.Nodes) > 1 {
		nodes := make([]string, 0, min(len(e.Nodes), MaxNodes))
		for _, n := range e.Nodes {
			if len(nodes) < MaxNodes && !slices.Contains(nodes, n) {
				nodes = append(nodes, n)
			}
		}
		e.Nodes = nodes
	}
	if !e.FirstSeen.IsZero() {
		e.FirstSeen = e.FirstSeen.Round(0).UTC()
	}
	if !e.LastSeen.IsZero() {
		e.LastSeen = e.LastSeen.Round(0).UTC()
	}
}

// cost estimates the memory an Entry decoded from n bytes holds, for the
// hot cache: DecodeEntry allocates 2.1–2.4 times the encoding (the shared
// string data, string and slice headers, the Entry), and the cache wraps
// it in a small struct. ristretto adds its own per-item overhead on top.
func cost(n int) int64 { return int64(n)*2 + 256 }

// entryMerger is the pebble merge operator of the stores: Put writes an
// entry as a merge operand, and pebble folds the operands of one key with
// merge when it reads or compacts them. merge is associative, so folding a
// subset of the operands (as compactions do) is fine.
//
// It never fails: an operand that does not decode is dropped in favour of
// the others; only when none decodes does the result keep the newest
// bytes, for the reader's DecodeEntry to reject. So a verified Put over a
// damaged value repairs it, and a damaged value cannot wedge compactions.
var entryMerger = &pebble.Merger{
	Name: "capsengine.entry.v1",
	Merge: func(_, value []byte) (pebble.ValueMerger, error) {
		return &valueMerger{raw: bytes.Clone(value)}, nil
	},
}

type valueMerger struct {
	raw []byte // the only operand so far, as written
	e   *Entry // the merged entry, once a second operand came
	bad bool   // raw does not decode
}

// decoded makes e from raw, once.
func (m *valueMerger) decoded() {
	if m.e != nil || m.bad {
		return
	}
	e, err := DecodeEntry(m.raw)
	if err != nil {
		m.bad = true
		return
	}
	m.e = e
}

func (m *valueMerger) MergeNewer(value []byte) error {
	m.decoded()
	n, err := DecodeEntry(value)
	switch {
	case err != nil:
		if m.e == nil { // nothing decodes yet: keep the newest bytes
			m.raw = bytes.Clone(value)
		}
	case m.e == nil:
		m.e, m.bad = n, false
	default:
		m.e = merge(m.e, n)
	}
	return nil
}

func (m *valueMerger) MergeOlder(value []byte) error {
	m.decoded()
	o, err := DecodeEntry(value)
	switch {
	case err != nil:
	case m.e == nil:
		m.e, m.bad = o, false
	default:
		m.e = merge(o, m.e)
	}
	return nil
}

func (m *valueMerger) Finish(bool) ([]byte, io.Closer, error) {
	if m.e == nil {
		return m.raw, nil, nil
	}
	return AppendEntry(nil, m.e), nil, nil
}
