package actors

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/capsengine/capsengine/messages"
)

func gone(i int) *messages.EntityGone { return &messages.EntityGone{JID: fmt.Sprintf("g%d@x/r", i)} }

// goneIndex reads back the i of gone(i).
func goneIndex(t *testing.T, ev messages.Event) int {
	t.Helper()
	g, ok := ev.(*messages.EntityGone)
	if !ok {
		t.Fatalf("got %T %+v, want *messages.EntityGone", ev, ev)
	}
	i, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(g.JID, "g"), "@x/r"))
	if err != nil {
		t.Fatalf("JID %q: %v", g.JID, err)
	}
	return i
}

// A subscriber that never reads costs the publisher nothing and takes
// nothing from one that reads: the reader gets every event, in order. Run
// in a synctest bubble, the test also fails if a pump outlives Close.
func TestHubStalledSubscriberIsolated(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := &Counters{}
		h := &Hub{counters: c, ringSize: 8}
		stalled := h.Subscribe(messages.AllKinds, 1)
		reader := h.Subscribe(messages.AllKinds, 1)
		const n = 1000
		for i := range n {
			h.Publish(gone(i))
			if got := goneIndex(t, <-reader.Events()); got != i {
				t.Fatalf("reader got event %d, want %d", got, i)
			}
			synctest.Wait() // the stalled pump settles too: its state is known
		}
		// The stalled one holds event 0 in its channel and event 1 in its
		// pump, and the ring keeps the last 8: the rest is lost.
		if d := stalled.Dropped(); d != n-10 {
			t.Errorf("stalled Dropped() = %d, want %d", d, n-10)
		}
		if d := reader.Dropped(); d != 0 {
			t.Errorf("reader Dropped() = %d, want 0", d)
		}
		stalled.Close()
		reader.Close()
		if got, want := c.EventDrops.Load(), stalled.Dropped(); got != want {
			t.Errorf("EventDrops = %d after Close, want %d", got, want)
		}
	})
}

// The loss is counted exactly, per kind: events of kinds the subscriber
// did not ask for are not counted as lost to it. synctest.Wait lets the
// pump settle after each publish, so where it stalls is known.
func TestHubEventsLostCount(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := &Counters{}
		h := &Hub{counters: c, ringSize: 4}
		sub := h.Subscribe(messages.KindEntityGone, 2)
		defer sub.Close()
		other := h.Subscribe(messages.KindCapsFailed, 4)
		defer other.Close()
		for i := range 10 {
			h.Publish(gone(i))
			h.Publish(&messages.CapsFailed{JID: "f@x/r"})
			synctest.Wait()
		}
		// Gone 0 and 1 fill the channel, the pump holds 2, the ring holds
		// the pairs 8 and 9: Gone 3 to 7 are lost. The other subscriber's
		// channel holds Failed 0 to 3, its pump 4: it lost 5 to 7.
		const lost = 5
		if d := sub.Dropped(); d != lost {
			t.Errorf("Dropped() = %d before reading, want %d", d, lost)
		}
		if d := other.Dropped(); d != 3 {
			t.Errorf("other Dropped() = %d, want 3", d)
		}
		if d := c.EventDrops.Load(); d != 0 {
			t.Errorf("EventDrops = %d before the subscriber read on, want 0", d)
		}
		var got []string
		for range 6 {
			switch ev := (<-sub.Events()).(type) {
			case *messages.EventsLost:
				got = append(got, fmt.Sprintf("lost %d", ev.Count))
			default:
				got = append(got, strconv.Itoa(goneIndex(t, ev)))
			}
		}
		if s, want := strings.Join(got, ","), "0,1,2,lost 5,8,9"; s != want {
			t.Errorf("got %q, want %q", s, want)
		}
		if d := c.EventDrops.Load(); d != lost {
			t.Errorf("EventDrops = %d, want %d", d, lost)
		}
		if d := sub.Dropped(); d != lost {
			t.Errorf("Dropped() = %d after reading, want %d", d, lost)
		}
	})
}

// A subscription loses nothing while fewer events than its size are
// pending, even when they come faster than its pump runs: the ring grows
// to its size, past the default.
func TestHubBurstWithinSize(t *testing.T) {
	const n = 3 * defaultRing
	h := &Hub{counters: &Counters{}}
	small := h.Subscribe(messages.KindEntityGone, 1)
	defer small.Close()
	sub := h.Subscribe(messages.KindEntityGone, n)
	defer sub.Close()
	for i := range n {
		h.Publish(gone(i))
	}
	for i := range n {
		select {
		case ev := <-sub.Events():
			if got := goneIndex(t, ev); got != i {
				t.Fatalf("got event %d, want %d", got, i)
			}
		case <-waitCtx(t).Done():
			t.Fatalf("event %d never came", i)
		}
	}
	if d := sub.Dropped(); d != 0 {
		t.Errorf("Dropped() = %d, want 0", d)
	}
}

// When a larger subscription grows the ring, the events a lagging
// subscriber has not read yet move with it.
func TestHubGrowKeepsPending(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &Hub{counters: &Counters{}, ringSize: 4}
		lagging := h.Subscribe(messages.KindEntityGone, 1)
		defer lagging.Close()
		for i := range 6 {
			h.Publish(gone(i))
			synctest.Wait()
		}
		// 0 in the channel, 1 in the pump, 2 to 5 in the ring.
		big := h.Subscribe(messages.KindEntityGone, 64)
		defer big.Close()
		for i := 6; i < 10; i++ {
			h.Publish(gone(i))
		}
		for i := range 10 {
			if got := goneIndex(t, <-lagging.Events()); got != i {
				t.Fatalf("got event %d, want %d", got, i)
			}
		}
		if d := lagging.Dropped(); d != 0 {
			t.Errorf("Dropped() = %d, want 0", d)
		}
	})
}

// Each publisher's events reach a subscriber in the order published, with
// or without losses; what is not delivered is reported lost.
func TestHubOrderPerPublisher(t *testing.T) {
	for _, tc := range []struct {
		name     string
		ring     int
		mayLose  bool
		buffered int
	}{
		{name: "room", ring: 0, buffered: 16},
		{name: "small-ring", ring: 16, mayLose: true, buffered: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const pubs, each = 4, 1000
			h := &Hub{counters: &Counters{}, ringSize: tc.ring}
			sub := h.Subscribe(messages.KindEntityGone, tc.buffered)
			var wg sync.WaitGroup
			for p := range pubs {
				wg.Go(func() {
					for i := range each {
						h.Publish(gone(p*each + i))
					}
				})
			}
			published := make(chan struct{})
			go func() { wg.Wait(); close(published) }()
			last := [pubs]int{-1, -1, -1, -1}
			var delivered, lost uint64
			for delivered+lost < pubs*each {
				select {
				case ev := <-sub.Events():
					if l, ok := ev.(*messages.EventsLost); ok {
						lost += l.Count
						continue
					}
					i := goneIndex(t, ev)
					p := i / each
					if i <= last[p] {
						t.Fatalf("publisher %d: event %d after %d", p, i, last[p])
					}
					last[p] = i
					delivered++
				case <-waitCtx(t).Done():
					t.Fatalf("delivered %d, lost %d of %d", delivered, lost, pubs*each)
				}
			}
			<-published
			if !tc.mayLose && lost != 0 {
				t.Errorf("lost %d events with room for all", lost)
			}
			if d := sub.Dropped(); d != lost {
				t.Errorf("Dropped() = %d, EventsLost said %d", d, lost)
			}
			sub.Close()
			if _, open := <-sub.Events(); open {
				t.Error("event after all were accounted for")
			}
		})
	}
}

// Subscriptions come and go, some never reading, while publishers run;
// closeAll ends the rest. Every channel is closed and, the bubble checks,
// every pump has exited.
func TestHubCloseWhilePublishing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := &Counters{}
		h := &Hub{counters: c, ringSize: 64}
		stop := make(chan struct{})
		var pubs sync.WaitGroup
		for p := range 4 {
			pubs.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					h.Publish(gone(p*1_000_000 + i))
				}
			})
		}
		var subs sync.WaitGroup
		var kept []*Subscription
		var mu sync.Mutex
		for s := range 40 {
			subs.Go(func() {
				sub := h.Subscribe(messages.KindEntityGone, 4)
				switch s % 3 {
				case 0: // reads a little, then closes
					for range 100 {
						<-sub.Events()
					}
					sub.Close()
					sub.Close()
				case 1: // never reads, closes
					sub.Close()
				default: // never reads, left to closeAll
					mu.Lock()
					kept = append(kept, sub)
					mu.Unlock()
				}
			})
		}
		subs.Wait()
		h.closeAll()
		close(stop)
		pubs.Wait()
		for _, sub := range kept {
			for range sub.Events() {
			}
		}
		if h.Wants(messages.AllKinds) {
			t.Error("Wants after closeAll")
		}
		late := h.Subscribe(messages.AllKinds, 1)
		if _, open := <-late.Events(); open {
			t.Error("a subscription after closeAll is open")
		}
		late.Close()
	})
}

// Through the engine: a subscriber that fell behind is told how many
// EntityGone it lost, and delivered plus lost is what was published.
func TestSlowSubscriberDropsCounted(t *testing.T) {
	r := start(t, Config{}, newMemStore(), newPeers())
	r.d.hub.ringSize = 4
	sub := r.Subscribe(messages.KindEntityGone, 2)
	_, k, node := client(t, "x", nil)
	const n = 10
	for i := range n {
		jid := fmt.Sprintf("s%d@x/1", i)
		_ = r.Ingest(waitCtx(t), presence(jid, node, k))
		_ = r.Ingest(waitCtx(t), &messages.Presence{From: jid, Type: "unavailable"})
	}
	if err := r.Sync(waitCtx(t)); err != nil {
		t.Fatal(err)
	}
	var delivered, lost uint64
	for delivered+lost < n {
		select {
		case ev := <-sub.Events():
			if l, ok := ev.(*messages.EventsLost); ok {
				lost += l.Count
			} else {
				delivered++
			}
		case <-waitCtx(t).Done():
			t.Fatalf("delivered %d, lost %d of %d", delivered, lost, n)
		}
	}
	if d, drops := sub.Dropped(), r.Counters().EventDrops.Load(); d != lost || drops != lost {
		t.Errorf("Dropped() = %d, EventDrops = %d; want %d, as EventsLost said", d, drops, lost)
	}
	sub.Close()
	sub.Close()
	if _, open := <-sub.Events(); open {
		t.Error("event after all were accounted for")
	}
}

// PublishAll is Publish for each event in turn, under one lock: order
// kept, kinds nobody wants skipped, losses counted the same way.
func TestHubPublishAll(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := &Counters{}
		h := &Hub{counters: c, ringSize: 4}
		sub := h.Subscribe(messages.KindEntityGone, 2)
		defer sub.Close()
		var evs []messages.Event
		for i := range 10 {
			evs = append(evs, gone(i), &messages.CapsFailed{JID: "f@x/r"})
		}
		h.PublishAll(evs)
		synctest.Wait()
		// Nobody wants CapsFailed, so only the Gone events enter the ring,
		// and the pump sees none of them before the last: the ring holds
		// Gone 6 to 9, and 0 to 5 are lost.
		want := []int{-6, 6, 7, 8, 9}
		for _, w := range want {
			ev := <-sub.Events()
			if w < 0 {
				if l, ok := ev.(*messages.EventsLost); !ok || l.Count != uint64(-w) {
					t.Fatalf("got %T %+v, want EventsLost{%d}", ev, ev, -w)
				}
				continue
			}
			if got := goneIndex(t, ev); got != w {
				t.Fatalf("got Gone %d, want %d", got, w)
			}
		}
		if got := c.EventDrops.Load(); got != 6 {
			t.Errorf("EventDrops = %d, want 6", got)
		}
	})
}
