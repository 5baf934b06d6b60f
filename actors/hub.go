package actors

import (
	"sync"
	"sync/atomic"

	"github.com/capsengine/capsengine/messages"
)

// Hub fans events out to subscribers. Publishing never blocks: a
// subscriber whose buffer is full loses the event, and the loss is counted
// on the subscription and in Counters.EventDrops. It is a plain struct, not
// an actor: a non-blocking channel send from the publishing actor is cheaper
// than a hop through a mailbox, and keeps each publisher's events in order.
type Hub struct {
	mu       sync.RWMutex
	subs     []*Subscription
	kinds    atomic.Uint32 // union of subscribed kinds: publishers skip building unwanted events
	counters *Counters
}

// Subscription receives the events of the kinds it asked for.
type Subscription struct {
	hub     *Hub
	kinds   messages.EventKind
	ch      chan messages.Event
	dropped atomic.Uint64
	once    sync.Once
}

// Subscribe starts a subscription to kinds with a buffer of size events
// (at least 1).
func (h *Hub) Subscribe(kinds messages.EventKind, size int) *Subscription {
	if size < 1 {
		size = 1
	}
	s := &Subscription{hub: h, kinds: kinds, ch: make(chan messages.Event, size)}
	h.mu.Lock()
	h.subs = append(h.subs, s)
	h.updateKindsLocked()
	h.mu.Unlock()
	return s
}

func (h *Hub) updateKindsLocked() {
	var k messages.EventKind
	for _, s := range h.subs {
		k |= s.kinds
	}
	h.kinds.Store(uint32(k))
}

// Wants reports whether any subscriber takes events of kind k.
func (h *Hub) Wants(k messages.EventKind) bool {
	return messages.EventKind(h.kinds.Load())&k != 0
}

// Publish delivers ev to every subscriber of its kind that has room.
func (h *Hub) Publish(ev messages.Event) {
	k := ev.Kind()
	if !h.Wants(k) {
		return
	}
	h.mu.RLock()
	for _, s := range h.subs {
		if s.kinds&k == 0 {
			continue
		}
		select {
		case s.ch <- ev:
		default:
			s.dropped.Add(1)
			if h.counters != nil {
				h.counters.EventDrops.Add(1)
			}
		}
	}
	h.mu.RUnlock()
}

// Events is the channel of events; it is closed by Close.
func (s *Subscription) Events() <-chan messages.Event { return s.ch }

// Dropped is the number of events this subscriber missed because its
// buffer was full.
func (s *Subscription) Dropped() uint64 { return s.dropped.Load() }

// Close ends the subscription and closes its channel. Idempotent.
func (s *Subscription) Close() {
	s.once.Do(func() {
		h := s.hub
		h.mu.Lock()
		for i, x := range h.subs {
			if x == s {
				h.subs = append(h.subs[:i], h.subs[i+1:]...)
				break
			}
		}
		h.updateKindsLocked()
		h.mu.Unlock()
		// Publishers send under the read lock, so none is sending now.
		close(s.ch)
	})
}

// closeAll ends every subscription (engine shutdown).
func (h *Hub) closeAll() {
	h.mu.RLock()
	subs := append([]*Subscription(nil), h.subs...)
	h.mu.RUnlock()
	for _, s := range subs {
		s.Close()
	}
}
