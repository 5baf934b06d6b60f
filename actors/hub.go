package actors

import (
	"math/bits"
	"sync"
	"sync/atomic"

	"github.com/capsengine/capsengine/messages"
)

// defaultRing is the least number of recent events the hub keeps for
// subscribers that are behind: with 24-byte slots, 96 KiB per engine with
// subscribers. The ring grows to the largest subscription's size (rounded
// up to a power of two), so that a subscriber loses no event while fewer
// than its size are pending, however late its pump gets a CPU: a burst from
// the shard actors can outrun a pump that is not scheduled for a while.
const defaultRing = 4096

// pumpBatch is how many events a pump copies out of the ring per lock:
// enough to amortise the lock, few enough that publishers never wait
// long behind a pump.
const pumpBatch = 64

// Hub fans events out to subscribers without making a publisher's cost
// depend on them.
//
// # Topology
//
//	publishers (shard, lookup, local actors)
//	   │ Publish: append to the ring, O(1), never blocks
//	   ▼
//	ring: the last N events, each with a sequence number (head = next)
//	   │ one pump goroutine per subscription, with its own cursor
//	   ▼
//	Subscription.ch (bounded, its size) ──▶ the subscriber
//
// A publisher holds ringMu for a slot write and two counter increments,
// whatever the number of subscribers: the fan-out cost moves to the pumps,
// one per subscription, and a pump only runs while its subscriber reads.
// A pump whose subscriber stalls blocks on its channel send and costs no
// CPU; a pump that has caught up waits on the wake channel, which a
// publisher closes only when some pump is waiting (and then once for all
// of them: the wake-up is coalesced).
//
// # Invariants
//
//   - head only grows. The ring holds the events with sequence numbers
//     [head-len(ring), head); slot seq%len(ring) holds event seq. len(ring)
//     is a power of two, at least defaultRing and the largest size a
//     subscription asked for; it only grows.
//   - A subscription's cursor is the sequence number of the next event its
//     pump will copy out of the ring; cursor ≤ head.
//   - cursor < head-len(ring) means events were overwritten before the pump
//     copied them: the subscriber lost those of its kinds. published and
//     evicted count events per kind with sequence number < head and <
//     head-len(ring); a subscription's seen counts the events of its kinds
//     before its cursor. The exact loss is then Σ evicted[its kinds] − seen.
//   - Each publisher's events get increasing sequence numbers, and each pump
//     delivers in sequence order, so a publisher's events stay in order for
//     every subscriber.
//
// The zero Hub is ready to use; its ring is allocated on the first
// Subscribe, so an engine without subscribers pays nothing, and publishers
// that check Wants first do not even build their events.
type Hub struct {
	counters *Counters
	ringSize int // least ring length; 0: defaultRing. Tests set it small.

	kinds atomic.Uint32 // union of subscribed kinds: publishers skip building unwanted events

	subsMu sync.Mutex // guards subs and closed; taken before ringMu
	subs   []*Subscription
	closed bool // closeAll ran: later subscriptions start closed

	ringMu    sync.Mutex
	ring      []slot
	head      uint64
	published [8]uint64     // per kind bit: events published
	evicted   [8]uint64     // per kind bit: events overwritten in the ring
	waiting   bool          // some pump waits on wake
	wake      chan struct{} // closed (and replaced) to wake waiting pumps
}

type slot struct {
	ev   messages.Event
	kind messages.EventKind
}

// Subscription receives the events of the kinds it asked for, and an
// *messages.EventsLost whenever it fell behind and lost some.
type Subscription struct {
	hub   *Hub
	kinds messages.EventKind
	ch    chan messages.Event
	stop  chan struct{} // closed by Close: the pump exits
	done  chan struct{} // closed by the pump when it exits
	once  sync.Once

	// Guarded by hub.ringMu.
	cursor  uint64
	seen    uint64
	dropped uint64

	batch []messages.Event // the pump's own
}

func kindIndex(k messages.EventKind) int { return bits.TrailingZeros8(uint8(k)) }

// Subscribe starts a subscription to kinds whose channel holds size events
// (at least 1). It receives the events published after Subscribe returns.
// A subscriber may fall behind by its channel plus the hub's ring (at least
// 4096 and size events, of every kind subscribed to) before it loses
// events; it is then told how many with a *messages.EventsLost, whatever
// its kinds.
//
// Every subscription owns a goroutine until Close (or the engine's Close).
// After the engine closed, Subscribe returns a subscription whose channel
// is already closed.
func (h *Hub) Subscribe(kinds messages.EventKind, size int) *Subscription {
	if size < 1 {
		size = 1
	}
	s := &Subscription{
		hub:   h,
		kinds: kinds,
		ch:    make(chan messages.Event, size),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	h.subsMu.Lock()
	defer h.subsMu.Unlock()
	h.ringMu.Lock()
	if !h.closed {
		h.growLocked(size)
	}
	s.cursor = h.head
	s.seen = h.sumLocked(&h.published, kinds)
	h.ringMu.Unlock()
	if h.closed {
		s.once.Do(func() { close(s.done); close(s.ch) })
		return s
	}
	h.subs = append(h.subs, s)
	h.updateKindsLocked()
	go s.pump()
	return s
}

// growLocked makes the ring at least size long, moving the events it
// holds to their slots in the new ring.
func (h *Hub) growLocked(size int) {
	n := h.ringSize
	if n <= 0 {
		n = defaultRing
	}
	n = max(n, size, len(h.ring))
	n = 1 << bits.Len(uint(n-1)) // a power of two: slots by mask
	if n == len(h.ring) {
		return
	}
	ring := make([]slot, n)
	if old := uint64(len(h.ring)); old > 0 {
		for seq := h.head - min(h.head, old); seq < h.head; seq++ {
			ring[seq&uint64(n-1)] = h.ring[seq&(old-1)]
		}
	}
	h.ring = ring
}

func (h *Hub) updateKindsLocked() {
	var k messages.EventKind
	for _, s := range h.subs {
		k |= s.kinds
	}
	h.kinds.Store(uint32(k))
}

// sumLocked adds up the per-kind counts c of kinds.
func (h *Hub) sumLocked(c *[8]uint64, kinds messages.EventKind) uint64 {
	var n uint64
	for k := uint8(kinds); k != 0; k &= k - 1 {
		n += c[bits.TrailingZeros8(k)]
	}
	return n
}

// Wants reports whether any subscriber takes events of kind k.
func (h *Hub) Wants(k messages.EventKind) bool {
	return messages.EventKind(h.kinds.Load())&k != 0
}

// Publish appends ev for the subscribers of its kind. It never blocks on a
// subscriber, and its cost does not depend on how many there are. ev must
// not be modified afterwards.
func (h *Hub) Publish(ev messages.Event) {
	if !h.Wants(ev.Kind()) {
		return
	}
	h.ringMu.Lock()
	h.appendLocked(ev)
	h.ringMu.Unlock()
}

// PublishAll publishes evs in order under one lock: a shard's batch of
// presences costs one lock, not one per event.
func (h *Hub) PublishAll(evs []messages.Event) {
	h.ringMu.Lock()
	for _, ev := range evs {
		if h.Wants(ev.Kind()) {
			h.appendLocked(ev)
		}
	}
	h.ringMu.Unlock()
}

func (h *Hub) appendLocked(ev messages.Event) {
	if h.ring == nil {
		return
	}
	k := ev.Kind()
	sl := &h.ring[h.head&uint64(len(h.ring)-1)]
	if h.head >= uint64(len(h.ring)) {
		h.evicted[kindIndex(sl.kind)]++
	}
	sl.ev, sl.kind = ev, k
	h.published[kindIndex(k)]++
	h.head++
	if h.waiting {
		close(h.wake)
		h.wake, h.waiting = nil, false
	}
}

// pump copies the subscription's events from the ring to its channel
// until Close. It is the only writer of s.ch, so Close can close s.ch
// once the pump has exited.
func (s *Subscription) pump() {
	defer close(s.done)
	h := s.hub
	for {
		select {
		case <-s.stop:
			return
		default:
		}
		h.ringMu.Lock()
		if s.cursor == h.head {
			if h.wake == nil {
				h.wake = make(chan struct{})
			}
			wake := h.wake
			h.waiting = true
			h.ringMu.Unlock()
			select {
			case <-wake:
			case <-s.stop:
				return
			}
			continue
		}
		lost := s.catchUpLocked()
		if lost > 0 && h.counters != nil {
			h.counters.EventDrops.Add(lost)
		}
		s.batch = s.batch[:0]
		mask := uint64(len(h.ring) - 1)
		for ; s.cursor < h.head && len(s.batch) < pumpBatch; s.cursor++ {
			sl := &h.ring[s.cursor&mask]
			if sl.kind&s.kinds != 0 {
				s.batch = append(s.batch, sl.ev)
				s.seen++
			}
		}
		h.ringMu.Unlock()
		if lost > 0 && !s.send(&messages.EventsLost{Count: lost}) {
			return
		}
		for i, ev := range s.batch {
			if !s.send(ev) {
				return
			}
			s.batch[i] = nil // don't keep the event alive from here
		}
	}
}

// catchUpLocked moves a cursor that the ring overran to the oldest event
// still there, and returns how many events of its kinds were lost.
func (s *Subscription) catchUpLocked() uint64 {
	h := s.hub
	n := uint64(len(h.ring))
	if h.head-s.cursor <= n {
		return 0
	}
	ev := h.sumLocked(&h.evicted, s.kinds)
	lost := ev - s.seen
	s.cursor, s.seen = h.head-n, ev
	s.dropped += lost
	return lost
}

// send delivers ev unless the subscription is closed first.
func (s *Subscription) send(ev messages.Event) bool {
	select {
	case s.ch <- ev:
		return true
	case <-s.stop:
		return false
	}
}

// Events is the channel of events; it is closed by Close. Besides the
// kinds subscribed to, it carries a *messages.EventsLost before the first
// event after a gap.
func (s *Subscription) Events() <-chan messages.Event { return s.ch }

// Dropped is the number of events of its kinds this subscriber lost
// because it fell behind, including those its pump has not yet reported
// (a stalled subscriber's losses show here before it reads again).
// Counters.EventDrops adds them up when the subscriber reads on, or closes.
func (s *Subscription) Dropped() uint64 {
	h := s.hub
	h.ringMu.Lock()
	defer h.ringMu.Unlock()
	d := s.dropped
	if h.ring != nil && h.head-s.cursor > uint64(len(h.ring)) {
		d += h.sumLocked(&h.evicted, s.kinds) - s.seen
	}
	return d
}

// Close ends the subscription: its pump exits, then its channel is closed.
// Events already in the channel can still be read. Idempotent; it may be
// called from any goroutine, concurrently with publishing.
func (s *Subscription) Close() {
	s.once.Do(func() {
		h := s.hub
		h.subsMu.Lock()
		for i, x := range h.subs {
			if x == s {
				h.subs = append(h.subs[:i], h.subs[i+1:]...)
				break
			}
		}
		h.updateKindsLocked()
		h.subsMu.Unlock()
		close(s.stop)
		<-s.done
		// Losses the pump never got to report are still losses.
		h.ringMu.Lock()
		if lost := s.catchUpLocked(); lost > 0 && h.counters != nil {
			h.counters.EventDrops.Add(lost)
		}
		h.ringMu.Unlock()
		s.batch = nil
		close(s.ch)
	})
}

// closeAll ends every subscription (engine shutdown); later ones start
// closed.
func (h *Hub) closeAll() {
	h.subsMu.Lock()
	h.closed = true
	subs := append([]*Subscription(nil), h.subs...)
	h.subsMu.Unlock()
	for _, s := range subs {
		s.Close()
	}
}
