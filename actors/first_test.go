package actors

import (
	"errors"
	"testing"

	"github.com/capsengine/capsengine/messages"
)

// stallShards holds every shard's table lock, so that no shard applies a
// presence until the returned func is called: the state of a shard far
// behind its callers under a flood.
func stallShards(r *Runtime) (resume func()) {
	for _, sh := range r.shards {
		sh.table.mu.Lock()
	}
	return func() {
		for _, sh := range r.shards {
			sh.table.mu.Unlock()
		}
	}
}

// A new key's query goes out while its presence still waits for its
// shard; the shard's request then joins that lookup: one query, and the
// JID is told once.
func TestFirstContactQueriesBeforeTheShard(t *testing.T) {
	p := newPeers()
	r := start(t, Config{}, newMemStore(), p)
	sub := r.Subscribe(messages.KindCapsResolved, 16)
	_, k, node := client(t, "early", p)
	resume := stallShards(r)
	if err := r.Ingest(waitCtx(t), presence("a@x/r", node, k)); err != nil {
		resume()
		t.Fatal(err)
	}
	until(t, "the query, with the shard stalled", func() bool { return p.queries("a@x/r") == 1 })
	resume()
	if _, _, err := r.Wait(waitCtx(t), "a@x/r"); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	select {
	case ev := <-sub.Events():
		if e := ev.(*messages.CapsResolved); e.JID != "a@x/r" || e.Key != k {
			t.Errorf("event %+v", e)
		}
	case <-waitCtx(t).Done():
		t.Fatal("no CapsResolved")
	}
	// A second presence of the key, from another JID, is the shard's:
	// the key is known by then.
	_ = r.Ingest(waitCtx(t), presence("b@x/r", node, k))
	if _, _, err := r.Wait(waitCtx(t), "b@x/r"); err != nil {
		t.Fatalf("Wait b: %v", err)
	}
	c := r.Counters()
	if q, e, eq := p.total.Load(), c.EarlyLookups.Load(), c.EarlyQueries.Load(); q != 1 || e != 1 || eq != 1 {
		t.Errorf("%d queries, %d early lookups, %d sent by the caller; want 1, 1 and 1", q, e, eq)
	}
	// The Waits were answered by the early query, which counted the
	// key resolved there and then: the counters agree with them, though
	// its lookup may not have heard of the answer yet.
	if res, dup := c.Resolved.Load(), c.DuplicateAnswers.Load(); res != 1 || dup != 0 {
		t.Errorf("Resolved %d, DuplicateAnswers %d; want 1 and 0", res, dup)
	}
	select {
	case ev := <-sub.Events():
		if e := ev.(*messages.CapsResolved); e.JID != "b@x/r" {
			t.Errorf("event %+v, want b's", e)
		}
	case <-waitCtx(t).Done():
		t.Fatal("no CapsResolved for b")
	}
}

// A key whose first announcer lies, met at first contact: the lookup
// fails before the presence reaches its shard, and the shard's request
// for the same presence is told that failure — it does not start a
// lookup of its own that would count (or ask) the liar again.
func TestFirstContactFailureToldOnce(t *testing.T) {
	p := newPeers()
	r := start(t, Config{}, newMemStore(), p)
	sub := r.Subscribe(messages.KindCapsFailed, 16)
	_, k, node := client(t, "lied", p)
	p.set("liar@x/r", liar)
	resume := stallShards(r)
	_ = r.Ingest(waitCtx(t), presence("liar@x/r", node, k))
	until(t, "the early lookup to fail", func() bool { return r.Counters().Failed.Load() == 1 })
	resume()
	_, _, err := r.Wait(waitCtx(t), "liar@x/r")
	if !errors.Is(err, ErrAnnouncersFailed) {
		t.Fatalf("Wait: %v", err)
	}
	select {
	case ev := <-sub.Events():
		if e := ev.(*messages.CapsFailed); e.JID != "liar@x/r" || !errors.Is(e.Err, ErrAnnouncersFailed) {
			t.Errorf("event %+v", e)
		}
	case <-waitCtx(t).Done():
		t.Fatal("the liar was not told")
	}
	c := r.Counters()
	if q, f, b := p.total.Load(), c.Failed.Load(), c.DropBad.Load(); q != 1 || f != 1 || b != 0 {
		t.Errorf("%d queries, %d failed lookups, %d bad-announcer drops; want 1, 1, 0", q, f, b)
	}
}
