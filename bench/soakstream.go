package bench

import (
	"container/heap"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/messages"
)

// The soak stream is generated on the fly, one presence at a time, from
// the seed alone: nothing about it is kept beyond the JIDs online, so the
// generator's memory is flat however long the soak runs.
//
// Time in the stream is counted in ticks: tick k introduces key k. Key k
// is announced by a first JID logging in at tick k and by more JIDs logging
// in over the next spread ticks (geometric count, mean jidsPerKey in all);
// a share popShare of the new JIDs announce one of the first pop keys
// instead (long-lived popular clients, hits once known). Every JID stays
// online for about life ticks (uniform in [life/2, 3·life/2]), announces
// its caps again once with probability 0.3 meanwhile, and leaves with an
// unavailable presence. Which JIDs lie, fail or stay silent is the
// PeerSpec's business, as in the main workload.

// soakEventKind is what a scheduled stream event emits.
type soakEventKind uint8

const (
	soakLogin      soakEventKind = iota // an available presence with caps: the JID's first
	soakReannounce                      // the same caps again (a status change)
	soakLogout                          // an unavailable presence
)

type soakEvent struct {
	at   int64  // tick
	seq  uint64 // order among events of one tick
	jid  int64
	key  int64
	kind soakEventKind
}

type soakHeap []soakEvent

func (h soakHeap) Len() int { return len(h) }
func (h soakHeap) Less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	return h[i].seq < h[j].seq
}
func (h soakHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *soakHeap) Push(x any)   { *h = append(*h, x.(soakEvent)) }
func (h *soakHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

// soakShape is the stream's composition; the zero values are not valid,
// see SoakOptions.
type soakShape struct {
	seed       uint64
	jidsPerKey float64 // new JIDs per new key
	popShare   float64 // share of new JIDs announcing a popular key
	pop        int64   // popular keys: keys 0..pop-1
	spread     int64   // ticks over which a key's announcers log in
	life       int64   // mean ticks a JID stays online
}

// soakItem is one stanza of the stream and what it means.
type soakItem struct {
	stanza   []byte // valid until the stream's next Next
	off, end int    // of the stanza in the tick's buffer
	jid      int64
	key      int64
	kind     soakEventKind
	// first marks the login of the first announcer of a new key.
	first bool
}

// soakStream generates the stream tick by tick.
type soakStream struct {
	sh      soakShape
	tick    int64 // the next tick to open
	nextJID int64
	seq     uint64
	pending soakHeap
	// out are the items of the current tick, next the first not taken;
	// buf holds their stanzas.
	out  []soakItem
	next int
	buf  []byte
	// vers caches the caps of recent keys by k mod its size: a key's
	// announcers come within the spread of each other, and building a
	// document and its hash costs more than the rest of a stanza.
	vers [1 << 15]soakCaps
}

// soakCaps is the caps element of key k.
type soakCaps struct {
	k         int64 // k+1, 0 empty
	node, ver string
}

func newSoakStream(sh soakShape) *soakStream { return &soakStream{sh: sh} }

// Ticks is the number of ticks opened so far (= keys introduced).
func (s *soakStream) Ticks() int64 { return s.tick }

// JIDs is the number of distinct JIDs scheduled so far.
func (s *soakStream) JIDs() int64 { return s.nextJID }

// Pending is the number of events scheduled for later ticks: about one
// logout per JID online, plus logins and re-announcements to come.
func (s *soakStream) Pending() int { return len(s.pending) }

// Next returns the next stanza; the item is valid until the next call. It
// opens a new tick when the current one is exhausted.
func (s *soakStream) Next() soakItem {
	for s.next >= len(s.out) {
		s.openTick()
	}
	it := s.out[s.next]
	s.next++
	it.stanza = s.buf[it.off:it.end:it.end]
	return it
}

// AtTickStart reports whether the next Next opens a new tick (and so
// introduces a new key).
func (s *soakStream) AtTickStart() bool { return s.next >= len(s.out) }

func (s *soakStream) schedule(at, jid, key int64, kind soakEventKind) {
	s.seq++
	heap.Push(&s.pending, soakEvent{at: at, seq: s.seq, jid: jid, key: key, kind: kind})
}

// openTick introduces key s.tick: it schedules the key's announcers and
// the popular-key JIDs of this tick, then emits every event due.
func (s *soakStream) openTick() {
	k := s.tick
	s.tick++
	s.out, s.next = s.out[:0], 0
	s.buf = s.buf[:0]
	sh := &s.sh
	r := rand.New(rand.NewPCG(sh.seed^0x50a4, uint64(k)))
	// The first announcer logs in now; the others within spread ticks.
	own := sh.jidsPerKey * (1 - sh.popShare)
	extra := geometric(r, own-1)
	s.login(r, k, k, true)
	for range extra {
		s.login(r, k+1+r.Int64N(max(sh.spread, 1)), k, false)
	}
	if k >= sh.pop && sh.pop > 0 {
		for range poisson(r, sh.jidsPerKey*sh.popShare) {
			s.login(r, k, r.Int64N(sh.pop), false)
		}
	}
	for len(s.pending) > 0 && s.pending[0].at <= k {
		e := heap.Pop(&s.pending).(soakEvent)
		s.emit(e, false)
	}
}

// login schedules (or, for the key's first announcer, emits at once) a new
// JID announcing key at tick at, with its later events.
func (s *soakStream) login(r *rand.Rand, at, key int64, first bool) {
	j := s.nextJID
	s.nextJID++
	life := s.sh.life/2 + r.Int64N(max(s.sh.life, 1))
	if r.IntN(10) < 3 {
		s.schedule(at+1+r.Int64N(max(life, 1)), j, key, soakReannounce)
	}
	s.schedule(at+life+1, j, key, soakLogout)
	if first {
		s.emit(soakEvent{at: at, jid: j, key: key, kind: soakLogin}, true)
		return
	}
	s.schedule(at, j, key, soakLogin)
}

// emit appends the stanza of e to the tick's output.
func (s *soakStream) emit(e soakEvent, first bool) {
	start := len(s.buf)
	var c *soakCaps
	if e.kind != soakLogout {
		c = &s.vers[e.key&(int64(len(s.vers))-1)]
		if c.k != e.key+1 {
			*c = soakCaps{k: e.key + 1}
			c.node, c.ver = soakCapsOf(s.sh.seed, e.key)
		}
	}
	s.buf = appendSoakPresence(s.buf, s.sh.seed, e, c)
	s.out = append(s.out, soakItem{off: start, end: len(s.buf), jid: e.jid, key: e.key, kind: e.kind, first: first})
}

// geometric draws a count with mean m ≥ 0 (0 when m ≤ 0).
func geometric(r *rand.Rand, m float64) int {
	if m <= 0 {
		return 0
	}
	p := 1 / (1 + m)
	return int(math.Floor(math.Log(1-r.Float64()) / math.Log(1-p)))
}

// poisson draws a Poisson count with a small mean m.
func poisson(r *rand.Rand, m float64) int {
	if m <= 0 {
		return 0
	}
	l, n, p := math.Exp(-m), 0, r.Float64()
	for p > l {
		n++
		p *= r.Float64()
	}
	return n
}

// soakJID is the full JID of stream JID j.
func soakJID(dst []byte, seed uint64, j int64) []byte {
	h := mix(seed^0x50a41d, uint64(j))
	dst = append(dst, names[h%uint64(len(names))]...)
	dst = append(dst, '.')
	dst = strconv.AppendInt(dst, j, 10)
	dst = append(dst, '@')
	dst = append(dst, domains[(h>>8)%uint64(len(domains))]...)
	dst = append(dst, '/')
	return appendB62(dst, h>>16, 8)
}

// soakNodeMark separates a family's caps node from the key number in the
// nodes of soak keys, so that the simulated peers can tell from a query's
// node which document it asks for, without a table.
const soakNodeMark = "/soak-"

// soakDoc is the disco#info document of key k and the node it is announced
// with. Every key's document is distinct: a client family's identity and
// features, and the release number k in the identity's name or, for 30%
// of the keys, in a XEP-0128 software-info form.
func soakDoc(seed uint64, k int64) (*hashing.Info, string) {
	h := mix(seed^0x50a4d0c, uint64(k))
	f := &families[h%uint64(len(families))]
	node := f.node + soakNodeMark + strconv.FormatInt(k, 10)
	info := &hashing.Info{}
	feats := append([]string(nil), coreFeatures...)
	opt := optionalFeatures
	n := 8 + int(h>>8)%16
	for i := range n {
		feats = append(feats, opt[mix(h, uint64(i))%uint64(len(opt))])
	}
	info.Features = dedupe(feats) // §5.4: no feature twice
	release := fmt.Sprintf("%d.%d", 1+h>>40%5, k)
	if h>>20%10 < 3 {
		info.Identities = []hashing.Identity{{Category: "client", Type: f.typ, Name: f.name}}
		info.Forms = []hashing.Form{{Type: "result", Fields: []hashing.Field{
			{Var: "FORM_TYPE", Type: "hidden", Values: []string{"urn:xmpp:dataforms:softwareinfo"}},
			{Var: "software", Values: []string{f.name}},
			{Var: "software_version", Values: []string{release}},
		}}}
	} else {
		info.Identities = []hashing.Identity{{Category: "client", Type: f.typ, Name: f.name + " " + release}}
	}
	return info, node
}

// soakKeyOfNode returns the key a query node (node#ver) of the soak asks
// for.
func soakKeyOfNode(node string) (int64, bool) {
	if i := strings.LastIndexByte(node, '#'); i >= 0 {
		node = node[:i]
	}
	i := strings.LastIndex(node, soakNodeMark)
	if i < 0 {
		return 0, false
	}
	k, err := strconv.ParseInt(node[i+len(soakNodeMark):], 10, 64)
	return k, err == nil && k >= 0
}

// soakCapsOf is the node and XEP-0115 ver key k is announced with.
func soakCapsOf(seed uint64, k int64) (node, ver string) {
	info, node := soakDoc(seed, k)
	ver, err := hashing.Ver(hashing.SHA1, info)
	if err != nil {
		panic(fmt.Sprintf("bench: soak document %d: %v", k, err)) // soakDoc builds valid documents
	}
	return node, ver
}

// appendSoakPresence appends the stanza of e, announcing c unless e is a
// logout.
func appendSoakPresence(dst []byte, seed uint64, e soakEvent, c *soakCaps) []byte {
	dst = append(dst, "<presence from='"...)
	dst = soakJID(dst, seed, e.jid)
	dst = append(dst, "' to='"+observer+"'"...)
	if e.kind == soakLogout {
		return append(dst, " type='unavailable'/>"...)
	}
	dst = append(dst, "><priority>"...)
	dst = strconv.AppendInt(dst, e.jid%11, 10)
	dst = append(dst, "</priority>"...)
	dst = messages.AppendCaps(dst, &messages.Caps{Hash: "sha-1", Node: c.node, Ver: c.ver})
	return append(dst, "</presence>"...)
}
