package httpapi

import (
	"encoding/json"
	"math/bits"
	"sync"
	"time"

	"github.com/capsengine/capsengine"
	"github.com/capsengine/capsengine/messages"
)

// stream is the server's one subscription to the engine, shared by every
// /events client.
//
//	engine ──Subscribe(all kinds)──▶ feeder goroutine
//	   │ appends each event to the ring with an id and a time
//	   ▼
//	ring: the last N events (ids head-N … head-1), each encoded to JSON
//	   │ once, by the first client that reads it
//	   │ each client's handler reads from its own cursor and writes to
//	   ▼ its connection, under a write deadline
//	client connection
//
// Encoding on first read keeps the cost of clients that read nothing at
// zero: the feeder's work per event is an append, whatever the clients.
//
// Ingest never waits on a client: the engine hands events to the feeder
// through its own bounded subscription, and the feeder only appends to the
// ring. A client that reads slowly costs a cursor; one that falls more
// than N events behind is told how many events of its kinds it missed
// (an EventsLost event) and goes on from the oldest one still there; one
// whose connection accepts nothing for StallTimeout is disconnected. Ids
// are global and increasing, so a client that reconnects with
// Last-Event-ID resumes right after the last event it saw, if the ring
// still holds it.
type stream struct {
	eng  *capsengine.Engine
	size int // ring length, a power of two

	mu      sync.Mutex
	sub     *capsengine.Subscription // nil until the first client
	ring    []record
	head    uint64           // id of the next event; ids start at 1
	cum     [8]uint64        // per kind bit: events appended so far
	wake    chan struct{}    // closed (and replaced) on append when waiting
	waiting bool             // a client holds wake
	stopped bool             // close ran
	done    chan struct{}    // closed when the feeder exits
	now     func() time.Time // event times
}

// record is one event of the ring. cum is the per-kind count of events before
// it, so that a client that fell behind can tell how many of its kinds it
// missed.
type record struct {
	id   uint64
	kind messages.EventKind
	ev   messages.Event
	at   time.Time
	data []byte // the Event as JSON; nil until a client encoded it
	cum  [8]uint64
}

// encode returns the record's JSON: its cached copy, else the encoding,
// which it keeps in the ring for the next client if the slot still holds
// this record.
func (s *stream) encode(r *record) []byte {
	if r.data != nil {
		return r.data
	}
	data, err := json.Marshal(NewEvent(r.ev, r.at))
	if err != nil { // not expected: the types marshal
		data = []byte(`{}`)
	}
	r.data = data
	s.mu.Lock()
	if sl := &s.ring[r.id&uint64(s.size-1)]; sl.id == r.id {
		sl.data = data
	}
	s.mu.Unlock()
	return data
}

func newStream(eng *capsengine.Engine, size int) *stream {
	size = 1 << bits.Len(uint(max(size, 2)-1))
	return &stream{eng: eng, size: size, head: 1, wake: make(chan struct{}),
		done: make(chan struct{}), now: time.Now}
}

// start subscribes on the first call: an engine that nobody streams from
// does not build events for it. The subscription then lives as long as the
// server, so that a client reconnecting after a moment resumes with
// Last-Event-ID instead of finding a ring that stopped filling.
func (s *stream) start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sub != nil || s.stopped {
		return
	}
	s.ring = make([]record, s.size)
	// The subscription's own buffer absorbs bursts while the feeder is
	// not scheduled; what the engine cannot hand over is reported as an
	// EventsLost and passed on to every client.
	s.sub = s.eng.Subscribe(messages.AllKinds, s.size)
	go s.feed(s.sub)
}

func (s *stream) feed(sub *capsengine.Subscription) {
	defer close(s.done)
	batch := make([]messages.Event, 0, feedBatch)
	for ev := range sub.Events() {
		// Take what else is queued, and append it all under one lock
		// with one wake-up: the feeder's cost per event is a slot write.
		batch = append(batch[:0], ev)
		for more := true; more && len(batch) < feedBatch; {
			select {
			case ev, ok := <-sub.Events():
				if !ok {
					more = false
					break
				}
				batch = append(batch, ev)
			default:
				more = false
			}
		}
		s.append(s.now(), batch...)
		clear(batch)
	}
}

// feedBatch bounds the events the feeder appends per lock.
const feedBatch = 256

func (s *stream) append(at time.Time, evs ...messages.Event) {
	s.mu.Lock()
	for _, ev := range evs {
		k := ev.Kind()
		r := &s.ring[s.head&uint64(s.size-1)]
		*r = record{id: s.head, kind: k, ev: ev, at: at, cum: s.cum}
		s.cum[bits.TrailingZeros8(uint8(k))]++
		s.head++
	}
	// Clients blocked writing to their connections are not waiting:
	// the wake channel is replaced only when one waits on it.
	if s.waiting {
		close(s.wake)
		s.wake, s.waiting = make(chan struct{}), false
	}
	s.mu.Unlock()
}

// drainWait bounds how long close lets the feeder take the events the
// engine published before it: a server shutting down tells its clients
// what happened up to that point, but does not wait for a busy engine.
const drainWait = 500 * time.Millisecond

// close ends the subscription once the feeder has taken what was already
// published (at most drainWait); clients are woken, write what the ring
// holds past their cursors, and end.
func (s *stream) close() {
	s.mu.Lock()
	sub := s.sub
	s.mu.Unlock()
	if sub != nil {
		for deadline := time.Now().Add(drainWait); time.Now().Before(deadline); {
			s.mu.Lock()
			head := s.head
			s.mu.Unlock()
			time.Sleep(10 * time.Millisecond)
			s.mu.Lock()
			still := head == s.head
			s.mu.Unlock()
			if still && len(sub.Events()) == 0 {
				break
			}
		}
	}
	s.mu.Lock()
	s.stopped = true
	close(s.wake)
	s.wake, s.waiting = make(chan struct{}), false
	s.mu.Unlock()
	if sub != nil {
		sub.Close()
		<-s.done
	}
}

// cursor is one client's position: the id of the next event it reads and
// how many events of its kinds came before that id.
type cursor struct {
	kinds messages.EventKind
	next  uint64
	seen  uint64
}

// open places a client's cursor: right after lastID when the ring still
// holds the event after it, else at the oldest event held (lost says how
// many events were missed in between, counting every kind since the
// count of its own kinds is gone with them); lastID 0 starts at the head.
func (s *stream) open(kinds messages.EventKind, lastID uint64, resume bool) (c cursor, lost uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c.kinds = kinds
	oldest := s.oldestLocked()
	switch {
	case !resume || lastID+1 >= s.head:
		c.next = s.head
	case lastID+1 >= oldest:
		c.next = lastID + 1
	default:
		c.next, lost = oldest, oldest-(lastID+1)
	}
	c.seen = s.cumAtLocked(c.next, kinds)
	return c, lost
}

func (s *stream) oldestLocked() uint64 {
	if s.head > uint64(s.size) {
		return s.head - uint64(s.size)
	}
	return 1
}

// cumAtLocked is the number of events of kinds before id, which must be
// in the ring or the head.
func (s *stream) cumAtLocked(id uint64, kinds messages.EventKind) uint64 {
	c := &s.cum
	if id < s.head {
		c = &s.ring[id&uint64(s.size-1)].cum
	}
	var n uint64
	for k := uint8(kinds); k != 0; k &= k - 1 {
		n += c[bits.TrailingZeros8(k)]
	}
	return n
}

// read copies up to max events of c's kinds at or after c.next into out
// and advances c. lost is the number of its kinds overwritten before it
// read them. With nothing to read, it returns the channel that is closed
// on the next append, or stopped once the stream ended: a stopped
// stream's events are still read first.
func (s *stream) read(c *cursor, out []record, max int) (_ []record, lost uint64, wake <-chan struct{}, stopped bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if oldest := s.oldestLocked(); c.next < oldest {
		now := s.cumAtLocked(oldest, c.kinds)
		lost = now - c.seen
		c.next, c.seen = oldest, now
	}
	for ; c.next < s.head && len(out) < max; c.next++ {
		r := s.ring[c.next&uint64(s.size-1)]
		if r.kind&c.kinds != 0 || r.kind == messages.KindEventsLost {
			out = append(out, r)
			if r.kind&c.kinds != 0 {
				c.seen++
			}
		}
	}
	if len(out) == 0 && lost == 0 {
		if s.stopped {
			return out, 0, nil, true
		}
		s.waiting = true
		return out, 0, s.wake, false
	}
	return out, lost, nil, false
}
