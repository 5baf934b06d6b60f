package httpapi

import (
	"slices"
	"testing"
	"time"

	"github.com/capsengine/capsengine/messages"
)

func newTestStream(size int) *stream {
	s := newStream(nil, size)
	s.ring = make([]record, s.size)
	return s
}

func ids(rs []record) []uint64 {
	var out []uint64
	for _, r := range rs {
		out = append(out, r.id)
	}
	return out
}

// TestStreamCursor checks the ring's arithmetic: resuming, falling behind
// and the exact count of a client's own kinds lost.
func TestStreamCursor(t *testing.T) {
	s := newTestStream(4)
	resolved, gone := messages.KindCapsResolved, messages.KindEntityGone
	events := map[messages.EventKind]messages.Event{
		resolved: &messages.CapsResolved{}, gone: &messages.EntityGone{}, messages.KindEventsLost: &messages.EventsLost{},
	}
	add := func(k messages.EventKind) { s.append(time.Time{}, events[k]) }

	live, _ := s.open(resolved, 0, false) // from the head: sees what comes next
	add(resolved)                         // id 1
	add(gone)                             // id 2
	got, lost, _, _ := s.read(&live, nil, 10)
	if lost != 0 || len(got) != 1 || got[0].id != 1 {
		t.Fatalf("live client: %v lost %d", ids(got), lost)
	}
	// A client that saw id 1 resumes at id 2 and, taking every kind, gets it.
	c, lost := s.open(messages.AllKinds, 1, true)
	if got, _, _, _ := s.read(&c, nil, 10); lost != 0 || len(got) != 1 || got[0].id != 2 {
		t.Fatalf("resume after 1: %v lost %d", ids(got), lost)
	}
	// Nothing new: the client gets the wake channel.
	if got, _, wake, _ := s.read(&c, nil, 10); len(got) != 0 || wake == nil {
		t.Fatalf("caught up: %v wake %v", ids(got), wake)
	}

	// Six more events overrun the ring of four behind the live client,
	// which lost the resolved ones among those overwritten (id 3).
	for _, k := range []messages.EventKind{resolved, gone, resolved, gone, resolved, resolved} {
		add(k)
	}
	// ids: 3 R, 4 G, 5 R, 6 G, 7 R, 8 R; ring holds 5..8.
	got, lost, _, _ = s.read(&live, nil, 10)
	if lost != 1 || !slices.Equal(ids(got), []uint64{5, 7, 8}) {
		t.Fatalf("behind: %v lost %d, want [5 7 8] lost 1 (id 3)", ids(got), lost)
	}
	// Resuming from an id the ring no longer holds starts at the oldest
	// and says how many events (of any kind) were skipped.
	c, lost = s.open(resolved, 2, true)
	if got, _, _, _ := s.read(&c, nil, 10); lost != 2 || !slices.Equal(ids(got), []uint64{5, 7, 8}) {
		t.Fatalf("resume after 2: %v lost %d, want [5 7 8] lost 2", ids(got), lost)
	}
	// An id from the future (another server's) starts at the head.
	c, lost = s.open(resolved, 99, true)
	if got, _, _, _ := s.read(&c, nil, 10); lost != 0 || len(got) != 0 {
		t.Fatalf("future id: %v lost %d", ids(got), lost)
	}
	// EventsLost records reach every client whatever its kinds.
	add(messages.KindEventsLost) // id 9
	c, _ = s.open(gone, 8, true)
	if got, _, _, _ := s.read(&c, nil, 10); !slices.Equal(ids(got), []uint64{9}) {
		t.Fatalf("EventsLost: %v", ids(got))
	}
	// max bounds a read.
	c, _ = s.open(messages.AllKinds, 5, true)
	if got, _, _, _ := s.read(&c, nil, 2); !slices.Equal(ids(got), []uint64{6, 7}) {
		t.Fatalf("max 2: %v", ids(got))
	}
	// Closed, the stream still gives a client what it holds past its
	// cursor, then says it stopped.
	s.close()
	if got, _, _, stopped := s.read(&c, nil, 10); stopped || !slices.Equal(ids(got), []uint64{8, 9}) {
		t.Fatalf("after close: %v stopped %v, want [8 9] first", ids(got), stopped)
	}
	if _, _, wake, stopped := s.read(&c, nil, 10); !stopped || wake != nil {
		t.Fatal("read after close and drain: not stopped")
	}
}
